package io.github.lmossdk

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import java.io.File
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.seconds

/** The repository and the cargo target directory (set by the pom). */
object Paths {
    val repo: File = File(System.getenv("LMOS_REPO") ?: "../..").canonicalFile
    val target: File = File(System.getenv("LMOS_CARGO_TARGET_DIR") ?: System.getenv("CARGO_TARGET_DIR") ?: "${repo}/target")
    val cli: File get() = File(target, "debug/lmos").also { check(it.canExecute()) { "no lmos CLI at $it" } }
    val rustWeatherAgent: File
        get() = File(target, "debug/examples/weather_agent").also { check(it.canExecute()) { "no weather_agent at $it" } }

    /** The Python interpreter of a virtualenv with the lmos package (LMOS_PYTHON), if given. */
    val python: File? = System.getenv("LMOS_PYTHON")?.takeIf { it.isNotEmpty() }?.let { File(it) }
}

/** Runs a coroutine test with a bound on how long it may hang (not a timing assertion). */
fun test(block: suspend CoroutineScope.() -> Unit) = runBlocking { withTimeout(120.seconds) { block() } }

/** An agent started as a process; its first stdout line is its TD URL. */
class AgentProcess(vararg command: String) : AutoCloseable {
    private val errors: File = File.createTempFile("lmos-agent", ".err").apply { deleteOnExit() }
    private val process: Process = ProcessBuilder(*command).redirectError(errors).start()
    private val stdout = process.inputStream.bufferedReader()

    /** The URL of the agent's TD. */
    val tdUrl: String = stdout.readLine()?.trim().orEmpty().also {
        if (it.isEmpty()) {
            process.destroyForcibly().waitFor()
            error("${command.toList()} printed no TD URL: ${errors.readText()}")
        }
    }

    /** Stops the process (SIGTERM) and returns its exit code and standard error. */
    fun stop(): Pair<Int, String> {
        process.destroy()
        if (!process.waitFor(30, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
        return process.exitValue() to errors.readText()
    }

    override fun close() {
        if (process.isAlive) stop()
    }
}

/** The result of a command. */
data class Ran(val code: Int, val stdout: String, val stderr: String)

/** Runs a command to its end. */
fun run(vararg command: String): Ran {
    val process = ProcessBuilder(*command).start()
    val out = StringBuilder()
    val reader = Thread { out.append(process.inputStream.bufferedReader().readText()) }.apply { start() }
    val err = process.errorStream.bufferedReader().readText()
    check(process.waitFor(120, TimeUnit.SECONDS)) { "${command.toList()} did not finish" }
    reader.join()
    return Ran(process.exitValue(), out.toString(), err)
}

/** The `lmos` CLI with `--output json`. */
fun cli(vararg args: String): Ran = run(Paths.cli.path, *args, "--output", "json")

/** A JSON member as a string. */
fun JsonElement.str(name: String): String? = ((this as? JsonObject)?.get(name) as? JsonPrimitive)?.content

/** The affordances of a TD with the base URL cut out of every href (to compare agents on different ports). */
fun affordances(td: JsonObject, base: String): String {
    val parts = listOf("properties", "actions", "events").associateWith { td[it] }
    return toJsonElement(parts).toString().replace(base, "BASE/").replace(Regex("ws://127\\.0\\.0\\.1:\\d+/"), "WS/")
}
