package io.github.lmossdk

import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Files
import java.nio.file.Path
import java.time.Instant
import java.util.Base64
import java.util.concurrent.TimeUnit
import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec

private const val THING_ID = "urn:example:secure-thermometer"
private const val SECRET = "the HS256 secret of the Kotlin security test"

/** A thermometer whose TD declares [schemes] and requires [security]. */
private fun protectedTd(schemes: Map<String, Map<String, Any?>>, security: String): JsonObject {
    val td = tool("Thermometer") {
        id = THING_ID
        property("temperature", numberSchema())
    }
    return JsonObject(td + ("securityDefinitions" to toJsonElement(schemes)) + ("security" to JsonPrimitive(security)))
}

/** An HS256 JWT made here, with the JDK's HMAC. */
private fun hs256(secret: String, claims: Map<String, Any?>): String {
    val base64 = Base64.getUrlEncoder().withoutPadding()
    val header = base64.encodeToString("""{"alg":"HS256","typ":"JWT"}""".toByteArray())
    val payload = base64.encodeToString(toJsonElement(claims).toString().toByteArray())
    val mac = Mac.getInstance("HmacSHA256").apply { init(SecretKeySpec(secret.toByteArray(), "HmacSHA256")) }
    return "$header.$payload.${base64.encodeToString(mac.doFinal("$header.$payload".toByteArray()))}"
}

private val PROTOCOLS = listOf("http", "ws")

class SecurityTest {
    @TempDir
    lateinit var dir: Path

    /** Serves the thermometer with [security]; [block] gets its TD URL. */
    private suspend fun served(td: JsonObject, security: ServerSecurity, tls: TlsConfig? = null, block: suspend (String) -> Unit) {
        Servient(httpPort = 0, security = security, tls = tls).serve {
            val exposed = expose(td)
            exposed.setProperty("temperature", JsonPrimitive(21.5))
            block(exposed.tdUrl!!)
        }
    }

    /** Reads the temperature over [protocol] with [credentials] (none when null). */
    private suspend fun read(url: String, protocol: String, credentials: Credentials?, extraCaPem: String? = null): Double {
        val options = ConsumeOptions(
            protocols = listOf(protocol),
            onlyProtocols = true,
            credentials = credentials?.let { mapOf(THING_ID to it) },
            extraCaPem = extraCaPem,
        )
        return (consume(url, options).readProperty("temperature") as JsonPrimitive).content.toDouble()
    }

    private suspend fun refused(url: String, protocol: String, credentials: Credentials?, secret: String? = null) {
        val error = assertThrows<AccessRefused> { read(url, protocol, credentials) }
        assertEquals(401, error.status, "$protocol: $error")
        assertEquals("remote_error", error.code)
        if (secret != null) assertFalse(error.message!!.contains(secret), error.message)
    }

    @Test
    fun `basic - right, wrong and missing credentials over HTTP and WebSocket`() = test {
        val td = protectedTd(mapOf("basic_sc" to mapOf("scheme" to "basic", "in" to "header")), "basic_sc")
        served(td, ServerSecurity(basic = mapOf("alice" to "pw-of-alice"))) { url ->
            for (protocol in PROTOCOLS) {
                assertEquals(21.5, read(url, protocol, Credentials(basic = "alice" to "pw-of-alice")), protocol)
                refused(url, protocol, Credentials(basic = "alice" to "not-her-password"), "not-her-password")
                refused(url, protocol, Credentials(basic = "mallory" to "pw-of-alice"))
                refused(url, protocol, null)
            }
        }
    }

    @Test
    fun `bearer - an HS256 JWT made here is accepted, forged, expired and missing ones are refused`() = test {
        val td = protectedTd(mapOf("bearer_sc" to mapOf("scheme" to "bearer", "format" to "jwt", "alg" to "HS256")), "bearer_sc")
        val later = Instant.now().epochSecond + 600
        val good = hs256(SECRET, mapOf("sub" to "agent-7", "aud" to "weather", "exp" to later))
        val forged = hs256("a secret nobody configured", mapOf("sub" to "agent-7", "aud" to "weather", "exp" to later))
        val expired = hs256(SECRET, mapOf("sub" to "agent-7", "aud" to "weather", "exp" to Instant.now().epochSecond - 3600))
        val otherAudience = hs256(SECRET, mapOf("sub" to "agent-7", "aud" to "billing", "exp" to later))
        val security = ServerSecurity(bearer = TokenVerification(hmacSecret = SECRET, audience = listOf("weather")))
        assertFalse(security.toString().contains(SECRET), security.toString())
        served(td, security) { url ->
            for (protocol in PROTOCOLS) {
                assertEquals(21.5, read(url, protocol, Credentials(bearer = good)), protocol)
                refused(url, protocol, Credentials(bearer = forged), forged)
                refused(url, protocol, Credentials(bearer = expired), expired)
                refused(url, protocol, Credentials(bearer = otherAudience))
                refused(url, protocol, null)
            }
        }
    }

    @Test
    fun `the handler learns who the caller is, over HTTP and WebSocket`() = test {
        val td = JsonObject(
            tool("Whoami") {
                id = THING_ID
                property("whoami", objectSchema {})
            } + ("securityDefinitions" to toJsonElement(mapOf("basic_sc" to mapOf("scheme" to "basic")))) +
                ("security" to JsonPrimitive("basic_sc")),
        )
        Servient(httpPort = 0, security = ServerSecurity(basic = mapOf("alice" to "pw-of-alice"))).serve {
            val exposed = expose(td)
            exposed.onPropertyRead("whoami") { context.principal ?: JsonObject(emptyMap()) }
            for (protocol in PROTOCOLS) {
                val options = ConsumeOptions(
                    protocols = listOf(protocol),
                    onlyProtocols = true,
                    credentials = mapOf(THING_ID to Credentials(basic = "alice" to "pw-of-alice")),
                )
                val seen = consume(exposed.tdUrl!!, options).readProperty("whoami") as JsonObject
                assertEquals(JsonPrimitive("basic_sc"), seen["scheme"], protocol)
                assertEquals(JsonPrimitive("alice"), seen["subject"], protocol)
                assertFalse(seen.toString().contains("pw-of-alice"), seen.toString())
            }
        }
    }

    @Test
    fun `DID-auth - fresh tokens from the caller's key, foreign audience and replay refused`() = test {
        val td = JsonObject(
            tool("DidSecured") {
                id = THING_ID
                property("whoami", objectSchema {})
            } + ("securityDefinitions" to JsonObject(mapOf("did_sc" to didAuthSecurityScheme()))) +
                ("security" to JsonPrimitive("did_sc")),
        )
        Servient(httpPort = 0, security = ServerSecurity(didAuth = DidAuthVerification())).serve {
            val exposed = expose(td)
            exposed.onPropertyRead("whoami") { context.principal ?: JsonObject(emptyMap()) }
            val caller = Ed25519KeyPair.generate()
            for (protocol in PROTOCOLS) {
                fun options(credentials: Credentials?) = ConsumeOptions(
                    protocols = listOf(protocol),
                    onlyProtocols = true,
                    credentials = credentials?.let { mapOf(THING_ID to it) },
                )
                val consumed = consume(exposed.tdUrl!!, options(Credentials(didAuth = DidAuthCredential(caller))))
                repeat(2) {
                    val seen = consumed.readProperty("whoami") as JsonObject
                    assertEquals(JsonPrimitive(caller.did), seen["did"], protocol)
                }
                assertThrows<AccessRefused> { consume(exposed.tdUrl!!, options(null)).readProperty("whoami") }
                val foreign = mintDidAuth(caller, "urn:example:another-thing")
                val refused = assertThrows<AccessRefused> {
                    consume(exposed.tdUrl!!, options(Credentials(bearer = foreign))).readProperty("whoami")
                }
                assertFalse(refused.message!!.contains(foreign), refused.message)
                if (protocol == "http") {
                    val once = consume(exposed.tdUrl!!, options(Credentials(bearer = mintDidAuth(caller, THING_ID))))
                    once.readProperty("whoami")
                    assertThrows<AccessRefused> { once.readProperty("whoami") }
                }
            }
            assertFalse(Credentials(didAuth = DidAuthCredential(caller)).toString().contains(caller.toSecretMultibase()))
        }
    }

    @Test
    fun `apikey - right, wrong and missing keys over HTTP and WebSocket`() = test {
        val td = protectedTd(mapOf("apikey_sc" to mapOf("scheme" to "apikey", "in" to "header", "name" to "X-API-Key")), "apikey_sc")
        served(td, ServerSecurity(apiKeys = listOf("key-one", "key-two"))) { url ->
            for (protocol in PROTOCOLS) {
                assertEquals(21.5, read(url, protocol, Credentials(apiKey = "key-two")), protocol)
                refused(url, protocol, Credentials(apiKey = "key-three"), "key-three")
                refused(url, protocol, null)
            }
        }
    }

    @Test
    fun `combo - either of two schemes is accepted`() = test {
        val td = protectedTd(
            mapOf(
                "basic_sc" to mapOf("scheme" to "basic"),
                "apikey_sc" to mapOf("scheme" to "apikey", "in" to "header", "name" to "X-API-Key"),
                "either_sc" to mapOf("scheme" to "combo", "oneOf" to listOf("basic_sc", "apikey_sc")),
            ),
            "either_sc",
        )
        served(td, ServerSecurity(basic = mapOf("alice" to "pw"), apiKeys = listOf("k1"))) { url ->
            for (protocol in PROTOCOLS) {
                assertEquals(21.5, read(url, protocol, Credentials(basic = "alice" to "pw")), protocol)
                assertEquals(21.5, read(url, protocol, Credentials(apiKey = "k1")), protocol)
                refused(url, protocol, Credentials(apiKey = "k2"))
                refused(url, protocol, null)
            }
        }
    }

    @Test
    fun `a protected thing without its verifier is not exposed, and credentials never print`() = test {
        val td = protectedTd(mapOf("bearer_sc" to mapOf("scheme" to "bearer")), "bearer_sc")
        Servient(httpPort = 0).serve {
            assertThrows<ConfigurationError> { expose(td) }
        }
        val leaky = "leaky-secret-value"
        val bad = assertThrows<LmosException> {
            Servient(security = ServerSecurity(bearer = TokenVerification(hmacSecret = leaky, jwksUrl = "https://x.example/jwks")))
        }
        assertTrue(bad.message!!.contains("exactly one"), bad.message)
        assertFalse(bad.message!!.contains(leaky), bad.message)
        val credentials = Credentials(basic = "alice" to leaky, bearer = leaky, apiKey = leaky, oauth2 = OAuth2Client("id", leaky))
        val options = ConsumeOptions(credentials = mapOf(THING_ID to credentials))
        assertFalse(options.toString().contains(leaky), options.toString())
        assertTrue(options.toString().contains("alice"), options.toString())
    }

    /** A CA and a certificate for 127.0.0.1 signed by it, made with openssl: (CA PEM, TLS config). */
    private fun certificates(): Pair<String, TlsConfig> {
        fun openssl(vararg args: String) {
            val process = ProcessBuilder("openssl", *args).directory(dir.toFile()).redirectErrorStream(true).start()
            val output = process.inputStream.bufferedReader().readText()
            check(process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0) { "openssl ${args.toList()}: $output" }
        }
        val ec = arrayOf("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
        openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=lmos Kotlin test CA")
        openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
        Files.writeString(
            dir.resolve("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        openssl(
            "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
        )
        val tls = TlsConfig.fromFiles(dir.resolve("server.pem").toString(), dir.resolve("server.key").toString())
        return Files.readString(dir.resolve("ca.pem")) to tls
    }

    @Test
    fun `TLS - https and wss with a bearer token, the certificate verified against extraCaPem`() = test {
        val (ca, tls) = certificates()
        val td = protectedTd(mapOf("bearer_sc" to mapOf("scheme" to "bearer", "format" to "jwt", "alg" to "HS256")), "bearer_sc")
        val token = hs256(SECRET, mapOf("sub" to "agent-7", "exp" to Instant.now().epochSecond + 600))
        served(td, ServerSecurity(bearer = TokenVerification(hmacSecret = SECRET)), tls) { url ->
            assertTrue(url.startsWith("https://127.0.0.1:"), url)
            // The certificate is not trusted by the platform: refused without the extra CA.
            val untrusted = assertThrows<TransportError> { consume(url) }
            assertFalse(untrusted.message!!.contains(token))
            val options = ConsumeOptions(credentials = mapOf(THING_ID to Credentials(bearer = token)), extraCaPem = ca)
            val thing = consume(url, options)
            val forms = thing.td.toString()
            assertTrue(forms.contains("wss://127.0.0.1:"), forms)
            for (protocol in PROTOCOLS) {
                assertEquals(21.5, read(url, protocol, Credentials(bearer = token), ca), protocol)
                val error = assertThrows<AccessRefused> { read(url, protocol, null, ca) }
                assertEquals(401, error.status)
            }
        }
    }
}
