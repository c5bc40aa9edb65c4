/**
 * The reference LMOS agent in Kotlin: the WeatherAgent of the LMOS agent description.
 *
 *     kotlin/examples/weather-agent --http-port 0 [--ws-port 0]
 *
 * The first line on stdout is the URL of the agent's Thing Description; the agent serves until
 * interrupted (Ctrl-C or SIGTERM). WebSocket (lmosprotocol) is served on the HTTP port, or on its
 * own port with --ws-port (0 = any free). Same affordances and behaviour as
 * core/examples/weather_agent.rs.
 */
package io.github.lmossdk.examples

import io.github.lmossdk.ExposedThing
import io.github.lmossdk.InvalidInput
import io.github.lmossdk.LmosException
import io.github.lmossdk.Servient
import io.github.lmossdk.agent
import io.github.lmossdk.arraySchema
import io.github.lmossdk.integerSchema
import io.github.lmossdk.jsonObjectOf
import io.github.lmossdk.numberSchema
import io.github.lmossdk.objectSchema
import io.github.lmossdk.schema
import io.github.lmossdk.stringSchema
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlin.system.exitProcess
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds

private fun keyValues(description: String) = arraySchema(
    objectSchema {
        property("key", schema("string"), required = true)
        property("value", schema("string"), required = true)
    },
) { this.description = description }

private fun messages(description: String) = arraySchema(
    objectSchema {
        property("role", stringSchema("Who wrote the message: user, assistant, agent or system."), required = true)
        property("content", stringSchema("The text of the message."), required = true)
        property("format", stringSchema("Format of the content, e.g. text."))
    },
) { this.description = description }

private val feedback = objectSchema {
    property(
        "rating",
        schema("integer") {
            minimum = 1
            maximum = 5
            description = "User rating, where 1 is the lowest and 5 is the highest."
        },
        required = true,
    )
    property("comment", stringSchema("Optional user comment providing additional feedback."))
}

/** The WeatherAgent's Thing Description (the servient adds the forms). */
fun weatherAgent(): JsonObject = agent("WeatherAgent") {
    id = "urn:uuid:6f1d3a7a-1f97-4e6b-b45f-f3c2e1c84c77"
    description = "An agent that answers questions about the weather."
    vendor("Deutsche Telekom AG", "https://telekom.de")
    link("https://weatherai.example.com/manual.pdf", rel = "service-doc", type = "application/pdf", hreflang = "en")
    property(
        "modelConfiguration",
        objectSchema {
            property("modelName", stringSchema("Name of the model in use, e.g., gpt-4o."))
            property(
                "temperature",
                numberSchema(0, 1).let { JsonObject(it + ("description" to JsonPrimitive("Temperature setting for controlling response randomness."))) },
            )
            property("maxTokens", schema("integer") { description = "Maximum number of tokens the model is allowed to generate." })
            description = "Current configuration of the underlying LLM, including version, temperature, and maximum tokens."
        },
    ) { observable = true }
    action("getWeather") {
        description = "Fetches weather information based on user input."
        safe = true
        idempotent = false
        synchronous = true
        input = objectSchema {
            property("question", schema("string"), required = true)
            property("interactionMode", schema("string") { enum("text", "voice") }, required = true)
        }
        output = stringSchema("Natural language output providing weather information.")
    }
    action("rate") {
        description = "Rates the service; emits userFeedbackReceived."
        synchronous = true
        input = feedback
    }
    action("forecast") {
        description = "Forecasts the weather for the next days, reporting progress per day."
        synchronous = false
        input = objectSchema {
            property("city", schema("string"), required = true)
            property("days", integerSchema(1, 7), required = true)
        }
        output = arraySchema(
            objectSchema {
                property("day", schema("integer"), required = true)
                property("city", schema("string"), required = true)
                property("summary", schema("string"), required = true)
                property("temperatureC", schema("number"), required = true)
            },
        )
    }
    action("chat") {
        description = "Ask the agent a question (AgentRequest in, AgentResult out)."
        synchronous = true
        input = objectSchema {
            property(
                "conversationContext",
                objectSchema {
                    property("conversationId", schema("string"))
                    property("turnId", schema("string"))
                },
            )
            property("systemContext", keyValues("Context of the calling system."))
            property(
                "userContext",
                objectSchema {
                    property("userId", schema("string"))
                    property("profile", keyValues("Facts about the user."))
                },
            )
            property("messages", messages("The conversation so far."), required = true)
        }
        output = objectSchema {
            property("status", stringSchema("success or failure"))
            property("messages", messages("The agent's answer."), required = true)
        }
    }
    event("userFeedbackReceived") {
        description = "Emitted when a user provides feedback on the service, with a rating from 1 to 5."
        data = feedback
    }
}

private fun weatherAnswer(question: String, mode: String) =
    "Weather for \"$question\": sunny, 21 °C, light wind (answered in $mode mode)."

private fun JsonElement.string(name: String): String? =
    ((this as? JsonObject)?.get(name) as? JsonPrimitive)?.takeIf { it.isString }?.content

/** Registers the WeatherAgent's handlers; [step] is the time `forecast` spends on each day. */
fun serveWeatherAgent(agent: ExposedThing, step: Duration) {
    agent.setProperty("modelConfiguration", jsonObjectOf("modelName" to "gpt-4o", "temperature" to 0.7, "maxTokens" to 1000))

    agent.onAction("getWeather") { input ->
        JsonPrimitive(weatherAnswer(input.string("question") ?: "", input.string("interactionMode") ?: "text"))
    }

    agent.onAction("rate") { input ->
        agent.emitEvent("userFeedbackReceived", input)
        JsonNull
    }

    agent.onActionStream("forecast") { input ->
        val city = input.string("city") ?: ""
        val days = input.jsonObject["days"]?.jsonPrimitive?.int ?: 1
        val entries = mutableListOf<JsonElement>()
        for (day in 1..days) {
            delay(step) // a cancelled action cancels this coroutine here
            entries += jsonObjectOf(
                "day" to day,
                "city" to city,
                "summary" to listOf("sunny", "cloudy", "rain", "windy")[day % 4],
                "temperatureC" to 15 + day,
            )
            progress(jsonObjectOf("day" to day, "of" to days))
        }
        JsonArray(entries)
    }

    agent.onAction("chat") { request ->
        val question = (request.jsonObject["messages"] as? JsonArray)
            ?.lastOrNull { it.string("role") == "user" }
            ?.string("content")
            ?: throw InvalidInput("no user message")
        jsonObjectOf(
            "status" to "success",
            "messages" to listOf(mapOf("role" to "agent", "content" to weatherAnswer(question, "text"), "format" to "text")),
        )
    }
}

private class Options(args: Array<String>) {
    var httpPort = 8080
    var wsPort: Int? = null
    var host = "127.0.0.1"
    var publicBaseUrl: String? = null
    var forecastStepMs = 200L
    var id: String? = null

    init {
        var i = 0
        fun value(): String = args.getOrNull(++i) ?: usage("${args[i - 1]} needs a value")
        while (i < args.size) {
            when (args[i]) {
                "--http-port" -> httpPort = value().toIntOrNull() ?: usage("--http-port takes a port")
                "--ws-port" -> wsPort = value().toIntOrNull() ?: usage("--ws-port takes a port")
                "--host" -> host = value()
                "--public-base-url" -> publicBaseUrl = value()
                "--forecast-step-ms" -> forecastStepMs = value().toLongOrNull() ?: usage("--forecast-step-ms takes a number")
                "--id" -> id = value()
                "-h", "--help" -> {
                    println(USAGE)
                    exitProcess(0)
                }
                else -> usage("unknown option ${args[i]}")
            }
            i++
        }
    }

    companion object {
        const val USAGE = "usage: weather-agent [--http-port PORT] [--ws-port PORT] [--host ADDRESS] " +
            "[--public-base-url URL] [--forecast-step-ms MS] [--id ID]"

        fun usage(problem: String): Nothing {
            System.err.println("weather-agent: $problem\n$USAGE")
            exitProcess(2)
        }
    }
}

/** Serves the WeatherAgent until the process is interrupted. */
fun main(args: Array<String>) {
    val options = Options(args)
    runBlocking {
        val servient: Servient
        val agent: ExposedThing
        try {
            servient = Servient(
                httpPort = options.httpPort,
                host = options.host,
                publicBaseUrl = options.publicBaseUrl,
                wsPort = options.wsPort,
            )
            val description = weatherAgent()
            // --id: another TD id, to run several WeatherAgents side by side (one directory).
            agent = servient.expose(options.id?.let { JsonObject(description + ("id" to JsonPrimitive(it))) } ?: description)
            serveWeatherAgent(agent, options.forecastStepMs.milliseconds)
            servient.start()
        } catch (error: LmosException) {
            System.err.println("weather-agent: ${error.message}")
            exitProcess(1)
        }
        println(agent.tdUrl)
        System.out.flush()
        // SIGTERM or Ctrl-C: shut the servient down, then leave with status 0 (a stop on
        // request is a normal end, as for the Rust and Python agents).
        Runtime.getRuntime().addShutdownHook(
            Thread {
                runBlocking { servient.shutdown() }
                System.out.flush()
                Runtime.getRuntime().halt(0)
            },
        )
        awaitCancellation()
    }
}
