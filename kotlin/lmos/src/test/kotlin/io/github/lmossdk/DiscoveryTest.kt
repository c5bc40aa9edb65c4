package io.github.lmossdk

import kotlinx.coroutines.async
import kotlinx.coroutines.flow.filter
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
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.net.DatagramSocket
import java.net.Inet4Address
import java.net.InetAddress
import java.nio.file.Path
import java.util.UUID
import kotlin.time.Duration.Companion.seconds

private val CONTEXT = JsonArray(
    listOf(JsonPrimitive("https://www.w3.org/2022/wot/td/v1.1"), jsonObjectOf("lmos" to "https://eclipse.dev/lmos/protocol/v1")),
)

/** A hand-written TD (a directory stores what it is given; the builder is not involved). */
private fun td(type: String, id: String, title: String, description: String, vendor: String, action: String, actionDescription: String) =
    jsonObjectOf(
        "@context" to CONTEXT,
        "@type" to type,
        "id" to id,
        "title" to title,
        "description" to description,
        "lmos:metadata" to mapOf("lmos:vendor" to mapOf("lmos:name" to vendor)),
        "securityDefinitions" to mapOf("nosec_sc" to mapOf("scheme" to "nosec")),
        "security" to "nosec_sc",
        "actions" to mapOf(
            action to mapOf(
                "description" to actionDescription,
                "forms" to listOf(mapOf("href" to "http://127.0.0.1:9/${title.lowercase()}/actions/$action")),
            ),
        ),
    )

private fun weather(id: String) =
    td("lmos:Agent", id, "Weather", "Tells the current weather and the forecast for a city", "ACME", "getForecast", "The weather forecast for the next days")

private fun geocoder(id: String) =
    td("lmos:Tool", id, "Geocoder", "Turns addresses into coordinates", "Maps Inc", "geocode", "Coordinates of an address")

private fun ids(list: List<JsonObject>) = list.map { it.str("id")!! }.sorted()

class DiscoveryTest {
    @TempDir
    lateinit var dir: Path

    private fun db() = "sqlite:${dir.resolve("directory-${UUID.randomUUID()}.db")}"

    @Test
    fun `a directory served from Kotlin - register, read, search, update, patch, delete`() = test {
        val db = db()
        DirectoryServer.start(db).use { server ->
            assertTrue(server.baseUrl.startsWith("http://127.0.0.1:"), server.baseUrl)
            assertEquals(server.baseUrl, "http://${server.address}/")
            val client = server.client()
            assertEquals("ThingDirectory", client.describe().str("@type"))

            assertEquals("urn:example:weather", client.register(weather("urn:example:weather")))
            assertEquals("urn:example:geo", client.register(geocoder("urn:example:geo"), ttl = 3600.seconds))
            // An anonymous TD gets an id from the directory, written into the stored TD.
            val anonymous = JsonObject(geocoder("x").filterKeys { it != "id" } + ("title" to JsonPrimitive("Anon")))
            val assigned = client.register(anonymous)
            assertTrue(assigned.startsWith("urn:uuid:"), assigned)
            assertEquals(assigned, client.get(assigned).str("id"))

            val stored = client.get("urn:example:geo")
            assertEquals("Geocoder", stored.str("title"))
            assertEquals(3600, (stored["registration"]!!.jsonObject["ttl"] as JsonPrimitive).content.toDouble().toInt())
            assertEquals(listOf(assigned, "urn:example:geo", "urn:example:weather").sorted(), ids(client.list()))

            assertEquals(listOf("urn:example:weather"), ids(client.findType("agent")))
            assertEquals(listOf(assigned, "urn:example:geo").sorted(), ids(client.findType("lmos:Tool")))
            assertEquals(listOf(assigned, "urn:example:geo").sorted(), ids(client.findVendor("maps inc")))
            assertEquals("urn:example:weather", client.findText("find an agent that can tell the weather forecast").first().str("id"))
            assertEquals(listOf("urn:example:geo"), ids(client.search(types = listOf("tool"), text = "coordinates", vendor = "Maps Inc").filter { it.str("title") == "Geocoder" }))
            assertEquals(1, client.search(types = listOf("tool"), limit = 1).size)
            assertEquals(
                listOf(JsonPrimitive("Weather")),
                client.searchJsonPath("$[?@['@type']=='lmos:Agent'].title"),
            )

            client.update(JsonObject(weather("urn:example:weather") + ("description" to JsonPrimitive("Rain or shine"))))
            assertEquals("Rain or shine", client.get("urn:example:weather").str("description"))
            client.patch("urn:example:weather", jsonObjectOf("title" to "Weather 2"))
            assertEquals("Weather 2", client.get("urn:example:weather").str("title"))

            assertTrue(client.put("urn:example:put", geocoder("urn:example:put")))
            assertFalse(client.put("urn:example:put", geocoder("urn:example:put")))
            // A body whose id is not the path's: the directory answers 400, nothing is stored.
            val mismatch = assertThrows<DirectoryException> { client.put("urn:example:other", geocoder("urn:example:put")) }
            assertEquals(400, mismatch.status)
            assertThrows<DirectoryNotFound> { client.get("urn:example:other") }
            client.delete("urn:example:put")

            client.delete("urn:example:weather")
            val gone = assertThrows<DirectoryNotFound> { client.get("urn:example:weather") }
            assertEquals("urn:example:weather", gone.id)
            assertEquals(404, gone.status)
        }
        // The file keeps what was written: a new directory on the same file sees it.
        DirectoryServer.start(db).use { again ->
            assertEquals("Geocoder", again.client().get("urn:example:geo").str("title"))
        }
    }

    @Test
    fun `watch is a Flow of created, updated and deleted events, cancelling it ends the stream`() = test {
        DirectoryServer.start(db()).use { server ->
            val client = server.client()
            // From the start of the history, so no event can slip past before the stream connects.
            val events = async { client.watch(lastEventId = "0").take(3).toList() }
            client.register(weather("urn:example:w"))
            client.patch("urn:example:w", jsonObjectOf("description" to "changed"))
            client.delete("urn:example:w")
            val seen = events.await()
            assertEquals(listOf(ChangeKind.CREATED, ChangeKind.UPDATED, ChangeKind.DELETED), seen.map { it.kind })
            assertTrue(seen.all { it.thingId == "urn:example:w" }, seen.toString())
            val numbers = seen.map { it.eventId!!.toLong() }
            assertEquals(numbers.sorted(), numbers)

            // One kind with diff: the created event carries the TD.
            val created = async { client.watch(kind = ChangeKind.CREATED, diff = true, lastEventId = seen.last().eventId).first() }
            client.register(geocoder("urn:example:g"))
            val event = created.await()
            assertEquals("urn:example:g", event.thingId)
            assertEquals("Geocoder", event.data.str("title"))

            // A watch can be collected once.
            val watch = client.watch()
            watch.close()
            assertEquals(emptyList<DirectoryEvent>(), watch.toList())
            assertThrows<IllegalStateException> { watch.toList() }
        }
    }

    @Test
    fun `a Kotlin agent registers itself with a ttl, is found by text, refreshed after loss, deregistered`() = test {
        DirectoryServer.start(db()).use { server ->
            val client = server.client()
            val servient = Servient(httpPort = 0)
            servient.serve {
                val exposed = expose(
                    agent("Weather Agent") {
                        id = "urn:example:kotlin-weather"
                        description = "Tells the weather forecast for a city"
                        action("forecast") { output = stringSchema() }
                    },
                )
                exposed.onAction("forecast") { JsonPrimitive("sunny") }
                // Before start the TD has no absolute forms: it cannot be registered.
                val early = Servient(httpPort = 0)
                val notYet = early.expose(tool("Early"))
                val refused = assertThrows<DiscoveryException> { notYet.register(server, 10.seconds) }
                assertEquals("discovery_not_registrable", refused.code)

                val registration = exposed.register(server, ttl = 2.seconds)
                assertEquals("urn:example:kotlin-weather", registration.id)
                assertEquals(server.baseUrl, registration.directoryUrl)
                assertTrue(registration.active)
                val found = client.findText("weather forecast")
                assertEquals(listOf("urn:example:kotlin-weather"), ids(found))
                // What is registered is the TD as served: consuming it calls the agent.
                assertEquals(JsonPrimitive("sunny"), consume(found.single()).invokeAction("forecast"))
                assertEquals(2, (client.get(registration.id)["registration"]!!.jsonObject["ttl"] as JsonPrimitive).content.toDouble().toInt())

                // The directory loses the entry; the next refresh (every ttl/2) registers it again.
                val recreated = async {
                    client.watch(kind = ChangeKind.CREATED, lastEventId = "0")
                        .filter { it.thingId == registration.id }
                        .take(2)
                        .toList()
                }
                client.delete(registration.id)
                assertEquals(2, recreated.await().size)
                assertEquals("Weather Agent", client.get(registration.id).str("title"))

                registration.deregister()
                assertFalse(registration.active)
                registration.deregister()
                assertThrows<DirectoryNotFound> { client.get(registration.id) }

                // Shutting the servient down deletes its live registrations.
                exposed.register(server.baseUrl, 60.seconds)
                assertEquals("Weather Agent", client.get("urn:example:kotlin-weather").str("title"))
            }
            assertThrows<DirectoryNotFound> { client.get("urn:example:kotlin-weather") }
        }
    }

    @Test
    fun `a Kotlin agent registers in the Rust CLI's directory and the CLI finds it`() = test {
        val db = dir.resolve("cli.db")
        val directory = AgentProcess(Paths.cli.path, "directory", "serve", "--port", "0", "--db", "sqlite:$db")
        directory.use {
            Servient(httpPort = 0).serve {
                val exposed = expose(tool("Dice") { id = "urn:example:dice"; description = "Rolls dice"; action("roll") { output = integerSchema() } })
                exposed.register(directory.tdUrl, 30.seconds)
                val listed = run(Paths.cli.path, "discover", "--directory", directory.tdUrl, "--query", "dice", "--type", "tool")
                assertEquals(0, listed.code, listed.stderr)
                assertTrue(listed.stdout.contains("urn:example:dice"), listed.stdout)
            }
        }
    }

    @Test
    fun `bad inputs get clear errors with codes, and nothing stored is lost`() = test {
        val db = db()
        DirectoryServer.start(db).use { server ->
            val client = server.client()
            client.register(weather("urn:example:keep"))

            val invalid = assertThrows<DirectoryException> {
                client.register(jsonObjectOf("@context" to CONTEXT, "id" to "urn:example:bad", "title" to 5))
            }
            assertEquals("directory_invalid_td", invalid.code)
            assertThrows<DirectoryNotFound> { client.get("urn:example:bad") }
            assertEquals("directory_bad_request", assertThrows<DirectoryException> { client.update(jsonObjectOf("title" to "no id")) }.code)
            val path = assertThrows<DirectoryException> { client.searchJsonPath("$[?") }
            assertEquals("directory_status", path.code)
            assertEquals(400, path.status)
            assertEquals("urn:example:never", assertThrows<DirectoryNotFound> { client.delete("urn:example:never") }.id)
            assertThrows<IllegalArgumentException> { client.register(weather("urn:example:ttl"), ttl = 0.seconds) }
            // A resume point that is not an event id: the directory refuses the subscription.
            val watchRefused = assertThrows<DirectoryException> { client.watch(lastEventId = "x").toList() }
            assertEquals(400, watchRefused.status)
            assertEquals(listOf("urn:example:keep"), ids(client.list()))

            assertEquals("directory_config", assertThrows<DirectoryException> { DirectoryClient("ftp://127.0.0.1/") }.code)
            assertEquals("directory_config", assertThrows<DirectoryException> { DirectoryServer.start("sqlite:") }.code)
            val taken = assertThrows<DirectoryException> { DirectoryServer.start(db, port = server.address.port) }
            assertEquals("directory_config", taken.code)
            assertTrue(taken.message!!.contains("cannot listen"), taken.message)
            assertEquals("type_error", assertThrows<InternalLmosError> { DirectoryServer.start(db, host = "localhost-ish") }.code)
            val nobody = DirectoryClient("http://127.0.0.1:9/")
            assertEquals("directory_transport", assertThrows<DirectoryException> { nobody.list() }.code)
            assertEquals(listOf("urn:example:keep"), ids(client.list()))
        }
    }

    // Runs under scripts/with-postgres (scripts/test), which sets LMOS_TEST_POSTGRES_URL.
    @Test
    fun `two directories served from Kotlin share one PostgreSQL database and its events`() = test {
        val url = System.getenv("LMOS_TEST_POSTGRES_URL")?.takeIf { it.isNotEmpty() }
        if (url == null) {
            assertNotEquals("true", System.getenv("CI"), "LMOS_TEST_POSTGRES_URL is not set under CI")
            assumeTrue(false, "LMOS_TEST_POSTGRES_URL is not set (run under scripts/with-postgres)")
        }
        DirectoryServer.start(url!!).use { first ->
            DirectoryServer.start(url).use { second ->
                val id = "urn:example:pg-kotlin-${UUID.randomUUID()}"
                val events = async {
                    second.client().watch(kind = ChangeKind.CREATED, lastEventId = "0").first { it.thingId == id }
                }
                first.client().register(weather(id))
                assertEquals(id, events.await().thingId)
                assertEquals("Weather", second.client().get(id).str("title"))
                second.client().delete(id)
                assertThrows<DirectoryNotFound> { first.client().get(id) }
            }
        }
    }

    /** The local address multicast leaves from (the interface of the route to 224.0.0.251), if any. */
    private fun multicastAddress(): InetAddress? = runCatching {
        DatagramSocket().use { socket ->
            socket.connect(InetAddress.getByName("224.0.0.251"), 5353)
            socket.localAddress.takeIf { it is Inet4Address && !it.isAnyLocalAddress && !it.isLoopbackAddress }
        }
    }.getOrNull()

    private fun freeUdpPort(): Int = DatagramSocket(0).use { it.localPort }

    @Test
    fun `mDNS - an advertised servient and directory are browsed with their TDs`() = test {
        // Multicast does not go over loopback here: like core/tests/discovery_mdns.rs, the test
        // runs on the interface the host routes multicast through, on a private mDNS port.
        val ip = multicastAddress()
        if (ip == null) {
            assertNotEquals("true", System.getenv("CI"), "no multicast-capable interface under CI")
            assumeTrue(false, "no multicast-capable interface")
        }
        val host = ip!!.hostAddress
        val port = freeUdpPort()
        val servient = Servient(httpPort = 0, host = host)
        servient.serve {
            expose(agent("Weather Agent") { id = "urn:example:mdns-kotlin" })
            DirectoryServer.start(db(), host = host).use { directory ->
                Mdns(port).use { advertiser ->
                    assertEquals(1, advertiser.advertise(servient))
                    advertiser.advertise(directory, "LMOS Directory")
                    Mdns(port).use { browser ->
                        val found = browser.browse().take(2).toList().associateBy { it.kind }
                        val thing = found.getValue(ServiceKind.THING)
                        assertEquals("Weather Agent", thing.instance)
                        assertEquals("http://$host:${addresses.http!!.port}/weather-agent", thing.url)
                        assertEquals("urn:example:mdns-kotlin", thing.td!!.str("id"))
                        assertEquals(null, thing.error)
                        val dir = found.getValue(ServiceKind.DIRECTORY)
                        assertEquals(directory.baseUrl, dir.url)
                        assertEquals("ThingDirectory", dir.td!!.str("@type"))
                        // Browsing the directory subtype finds only directories.
                        val directories = browser.browse(ServiceKind.DIRECTORY).first()
                        assertEquals(ServiceKind.DIRECTORY, directories.kind)
                        assertNotNull(directories.td)
                    }
                }
            }
        }
        assertThrows<IllegalArgumentException> { Mdns(0) }
        Mdns(freeUdpPort()).use { mdns ->
            val bad = assertThrows<InternalLmosError> { mdns.advertise(ServiceKind.THING, "x", SocketAddress("not-an-ip", 1), "/x") }
            assertEquals("type_error", bad.code)
        }
    }
}
