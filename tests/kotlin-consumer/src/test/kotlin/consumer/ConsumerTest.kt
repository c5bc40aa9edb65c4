package consumer

import io.github.lmossdk.ConsumeOptions
import io.github.lmossdk.DirectoryServer
import io.github.lmossdk.Ed25519KeyPair
import io.github.lmossdk.InvalidInput
import io.github.lmossdk.SignaturePolicy
import io.github.lmossdk.register
import io.github.lmossdk.LmosException
import io.github.lmossdk.Servient
import io.github.lmossdk.agent
import io.github.lmossdk.consume
import io.github.lmossdk.objectSchema
import io.github.lmossdk.stringSchema
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import kotlin.time.Duration.Companion.seconds

/** The library from its coordinates: publish an agent and call it, as the README shows. */
class ConsumerTest {
    @Test
    fun `an agent published and called through the installed library`() = runBlocking {
        Servient(httpPort = 0).serve {
            val echo = expose(
                agent("Echo") {
                    action("echo") {
                        input = objectSchema { property("text", stringSchema(), required = true) }
                        output = stringSchema()
                    }
                },
            )
            echo.onAction("echo") { input ->
                val text = input.jsonObject["text"]!!.jsonPrimitive.content
                if (text.isBlank()) throw InvalidInput("nothing to echo")
                JsonPrimitive(text.uppercase())
            }
            val client = consume(echo.tdUrl!!)
            assertEquals(JsonPrimitive("HELLO"), client.invokeAction("echo", io.github.lmossdk.jsonObjectOf("text" to "hello")))
            val refused = assertThrows<LmosException> { client.invokeAction("echo", io.github.lmossdk.jsonObjectOf("text" to " ")) }
            assertTrue(refused.message!!.contains("nothing to echo"), refused.toString())
            Unit
        }
    }

    @TempDir
    lateinit var dir: Path

    @Test
    fun `a signed agent registered in a directory, found and verified through the installed library`() = runBlocking {
        val key = Ed25519KeyPair.generate()
        DirectoryServer.start("sqlite:${dir.resolve("things.db")}").use { directory ->
            Servient(httpPort = 0, signDescriptions = key).serve {
                val exposed = expose(agent("Signed Echo") { id = "urn:example:consumer-echo"; description = "Echoes, signed" })
                exposed.register(directory, ttl = 30.seconds)
                val found = directory.client().findText("echoes")
                assertEquals(listOf("urn:example:consumer-echo"), found.map { it["id"]!!.jsonPrimitive.content })
                val thing = consume(exposed.tdUrl!!, ConsumeOptions(signaturePolicy = SignaturePolicy.REQUIRE))
                assertEquals(key.did, thing.verifiedProofs.single().signer)
            }
        }
    }
}
