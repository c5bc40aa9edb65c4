package io.github.lmossdk

import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import kotlin.time.Duration.Companion.seconds

/**
 * DID-based introduction from Kotlin: a did:web document served over loopback HTTP by a Kotlin
 * servient points at its own agent's TD (`WotThing`) and at a directory (`WotDirectory`) where a
 * second agent registered itself; both are found and called.
 */
class DidDiscoveryTest {
    @TempDir
    lateinit var dir: Path

    private fun agentTd(title: String, id: String): JsonObject = agent(title) {
        this.id = id
        description = "$title: tells the weather"
        action("ask") {
            input = stringSchema()
            output = stringSchema()
        }
    }

    @Test
    fun `a did web document leads to its agent and to its directory`() = test {
        DirectoryServer.start("sqlite:${dir.resolve("d.db")}").use { directory ->
            val other = Servient(httpPort = 0)
            other.serve {
                val forecaster = expose(agentTd("Forecaster", "urn:example:forecaster"))
                forecaster.onAction("ask") { input -> JsonPrimitive("Forecaster heard ${input.jsonPrimitive.content}") }
                forecaster.register(directory, 60.seconds)
                val servient = Servient(httpPort = 0)
                servient.serve {
                    val weather = expose(agentTd("Weather", "urn:example:weather"))
                    weather.onAction("ask") { input -> JsonPrimitive("Weather heard ${input.jsonPrimitive.content}") }
                    val did = didWebForUrl(baseUrl!!)
                    val document = didDocumentForAgent(did, Ed25519KeyPair.generate(), weather.tdUrl)
                    val services = document.getValue("service") as JsonArray
                    val withDirectory = JsonObject(
                        document + (
                            "service" to JsonArray(
                                services + jsonObjectOf(
                                    "id" to "#directory",
                                    "type" to "WotDirectory",
                                    "serviceEndpoint" to "${directory.baseUrl}.well-known/wot",
                                ),
                            )
                            ),
                    )
                    serveDidDocument(withDirectory)

                    val found = discoverDid(did, DidResolver(allowHttpLoopback = true))
                    assertEquals(listOf("urn:example:weather", "urn:example:forecaster"), found.map { it.td.getValue("id").jsonPrimitive.content })
                    val (mine, listed) = found
                    assertEquals(weather.tdUrl, mine.url)
                    assertEquals("$did#td", mine.service)
                    assertNull(mine.directory)
                    assertEquals("$did#directory", listed.service)
                    assertEquals(directory.baseUrl, listed.directory)
                    assertEquals(JsonPrimitive(60), listed.td.getValue("registration").jsonObject["ttl"])
                    // What the DID led to is enough to call both agents.
                    for (thing in found) {
                        val answer = consume(thing.td).invokeAction("ask", JsonPrimitive("hello"))
                        assertEquals(JsonPrimitive("${thing.td.getValue("title").jsonPrimitive.content} heard hello"), answer)
                    }

                    // Without the loopback option a did:web is fetched over https only: a clear error.
                    assertThrows<IdentityException> { discoverDid(did) }
                    // A did:key document has no WoT services.
                    val key = Ed25519KeyPair.generate()
                    val error = assertThrows<DiscoveryException> {
                        discoverDid(key.did, DidResolver(pinned = listOf(didKeyDocument(key.did))))
                    }
                    assertEquals("discovery_did_no_service", error.code)
                }
            }
        }
    }
}
