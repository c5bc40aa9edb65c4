/**
 * Calls WeatherAgents found in a Thing Description Directory, one job per agent and protocol.
 *
 *     kotlin/examples/interop-client '[{"url": "http://127.0.0.1:8081/things/urn:uuid:...",
 *                                       "protocol": "ws", "question": "Berlin"}]'
 *
 * Each job's `url` is where the directory serves the agent's TD; the client consumes it from
 * there, preferring the job's `protocol` (`http` or `ws`), invokes `getWeather` and reads
 * `modelConfiguration`. One JSON line per job on stdout: `answer` and `model`, or `error`.
 * The interop matrix (tests/interop/matrix.py) runs this client against every language's agent.
 */
package io.github.lmossdk.examples

import io.github.lmossdk.ConsumeOptions
import io.github.lmossdk.LmosException
import io.github.lmossdk.consume
import io.github.lmossdk.jsonObjectOf
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.put

/** Runs one job: the line to print. */
suspend fun runInteropJob(job: JsonObject): JsonObject {
    val url = job.getValue("url").jsonPrimitive.content
    val protocol = job.getValue("protocol").jsonPrimitive.content
    val question = job.getValue("question").jsonPrimitive.content
    return try {
        val thing = consume(url, ConsumeOptions(protocols = listOf(protocol)))
        val input = jsonObjectOf("question" to question, "interactionMode" to "text")
        val answer = thing.invokeAction("getWeather", input)
        val model = thing.readProperty("modelConfiguration").jsonObject.getValue("modelName")
        buildJsonObject {
            put("url", url)
            put("protocol", protocol)
            put("answer", answer)
            put("model", model)
        }
    } catch (error: LmosException) {
        buildJsonObject {
            put("url", url)
            put("protocol", protocol)
            put("error", "${error::class.simpleName}: ${error.message}")
        }
    }
}

fun main(args: Array<String>) = runBlocking {
    val jobs = Json.parseToJsonElement(args.firstOrNull() ?: "[]").jsonArray
    for (job in jobs) {
        println(runInteropJob(job.jsonObject))
    }
}
