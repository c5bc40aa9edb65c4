package io.github.lmossdk

import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.attribute.PosixFilePermission
import java.time.Instant
import java.util.Base64
import kotlin.time.Duration.Companion.seconds

private fun weatherTd(): JsonObject = agent("Weather") {
    id = "urn:example:signed-weather"
    description = "Tells the weather"
    action("forecast") { output = stringSchema() }
}

/** A copy of [o] with member [name] set to [value]. */
private fun JsonObject.with(name: String, value: Any?): JsonObject = JsonObject(this + (name to toJsonElement(value)))

private fun assertIdentity(code: String, error: Throwable) {
    assertTrue(error is IdentityException, "$error")
    assertEquals(code, (error as IdentityException).code, error.message)
}

class IdentityTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `keys - generated, saved and loaded as JWK and multibase, the private key never shows`() {
        val key = Ed25519KeyPair.generate()
        assertTrue(key.did.startsWith("did:key:z6Mk"), key.did)
        assertEquals("${key.did}#${key.did.removePrefix("did:key:")}", key.keyId)
        assertEquals(key.did.removePrefix("did:key:"), key.publicKeyMultibase)
        val jwk = key.toPrivateJwk()
        assertEquals("OKP", jwk.str("kty"))
        assertEquals("Ed25519", jwk.str("crv"))
        val secret = key.toSecretMultibase()
        assertTrue(secret.startsWith("z3u2"))
        assertEquals(jsonObjectOf("kty" to "OKP", "crv" to "Ed25519", "x" to jwk.str("x")), key.publicJwk)
        for (shown in listOf(key.toString(), listOf(key).toString(), "$key")) {
            assertFalse(shown.contains(jwk.str("d")!!), shown)
            assertFalse(shown.contains(secret), shown)
            assertTrue(shown.contains(key.keyId), shown)
        }

        val file = dir.resolve("agent.jwk")
        key.save(file)
        assertEquals(setOf(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE), Files.getPosixFilePermissions(file))
        assertEquals(key.did, Ed25519KeyPair.load(file).did)
        assertEquals(key.did, Ed25519KeyPair.fromJwk(jwk).did)
        assertEquals(key.did, Ed25519KeyPair.fromMultibase(secret).did)
        Files.writeString(dir.resolve("key.multibase"), "$secret\n")
        assertEquals(key.did, Ed25519KeyPair.load(dir.resolve("key.multibase")).did)

        val named = key.withKeyId("did:web:example.com#key-1")
        assertEquals("did:web:example.com#key-1", named.keyId)
        assertEquals("did:web:example.com", named.did)
        assertTrue(key.keyId.startsWith("did:key:"), "withKeyId makes a new key")

        val signature = key.sign("hello")
        assertEquals(64, signature.size)
        verifySignature(key.publicKeyMultibase, "hello".toByteArray(), signature)
        verifySignature(key.did, "hello".toByteArray(), signature)
        verifySignature(key.publicJwk.toString(), "hello".toByteArray(), signature)
        assertIdentity("identity_signature_invalid", assertThrows<LmosException> { verifySignature(key, "hellO".toByteArray(), signature) })

        // Bad keys: clear errors that do not repeat the key text.
        val d = jwk.str("d")!!
        val broken = jwk.with("d", d.dropLast(2) + if (d.endsWith("AA")) "BB" else "AA")
        val refused = assertThrows<IdentityException> { Ed25519KeyPair.fromJwk(broken) }
        assertEquals("identity_invalid_key", refused.code)
        assertFalse(refused.message!!.contains(broken.str("d")!!))
        assertEquals("identity_invalid_key", assertThrows<IdentityException> { Ed25519KeyPair.fromMultibase("z3u2notakey") }.code)
        val missing = assertThrows<IdentityException> { Ed25519KeyPair.load(dir.resolve("missing.jwk")) }
        assertEquals("identity_key_file", missing.code)
        assertThrows<IllegalArgumentException> { Ed25519KeyPair.fromMultibase(jwk.toString()) }
    }

    @Test
    fun `did key - a key's DID resolves to its document, offline and through the resolver`() = test {
        val key = Ed25519KeyPair.generate()
        val document = didKeyDocument(key.did)
        assertEquals(key.did, document.str("id"))
        assertEquals(key.publicKeyMultibase, document["verificationMethod"]!!.jsonArray[0].str("publicKeyMultibase"))
        assertEquals(JsonArray(listOf(JsonPrimitive(key.keyId))), document["assertionMethod"])
        assertEquals(document, resolveDid(key.did))
        assertEquals(document, parseDidDocument(document))

        assertIdentity("identity_invalid_did", assertThrows<LmosException> { didKeyDocument("did:key:zNotBase58!") })
        assertIdentity("identity_unsupported_did_method", assertThrows<LmosException> { resolveDid("did:example:123") })
        assertIdentity(
            "identity_invalid_did_document",
            assertThrows<LmosException> { parseDidDocument(jsonObjectOf("id" to "did:key:x", "verificationMethod" to "no")) },
        )
        // A pinned document answers without the network.
        val pinned = didDocumentForAgent("did:web:pinned.example", key.withKeyId("did:web:pinned.example#key-1"))
        assertEquals(pinned, DidResolver(pinned = listOf(pinned)).resolve("did:web:pinned.example"))
    }

    @Test
    fun `a document signed in Kotlin verifies in the Rust CLI, and tampering is detected`() = test {
        val key = Ed25519KeyPair.generate()
        val signed = signDocument(weatherTd(), key)
        val proof = signed["proof"]!!.jsonObject
        assertEquals("DataIntegrityProof", proof.str("type"))
        assertEquals("eddsa-jcs-2022", proof.str("cryptosuite"))
        assertEquals(key.keyId, proof.str("verificationMethod"))
        assertEquals("assertionMethod", proof.str("proofPurpose"))

        val good = dir.resolve("signed.td.json")
        Files.writeString(good, signed.toString())
        val verified = run(Paths.cli.path, "verify", good.toString())
        assertEquals(0, verified.code, verified.stderr + verified.stdout)
        assertTrue((verified.stdout + verified.stderr).contains(key.did))

        val tampered = signed.with("description", "Tells lies")
        val bad = dir.resolve("tampered.td.json")
        Files.writeString(bad, tampered.toString())
        assertNotEquals(0, run(Paths.cli.path, "verify", bad.toString()).code)
        assertIdentity("identity_signature_invalid", assertThrows<LmosException> { verifyDocument(tampered) })

        // A proof set: two keys sign; both must verify.
        val second = Ed25519KeyPair.generate()
        val twice = signDocument(signed, second, created = "2026-01-01T00:00:00Z")
        assertEquals(2, twice["proof"]!!.jsonArray.size)
        val proofs = verifyDocument(twice)
        assertEquals(listOf(key.did, second.did), proofs.map { it.signer })
        assertEquals("2026-01-01T00:00:00Z", proofs[1].created)
        assertEquals(ProofPurpose.ASSERTION_METHOD, proofs[0].purpose)
        val both = dir.resolve("twice.json")
        Files.writeString(both, twice.toString())
        assertEquals(0, run(Paths.cli.path, "verify", both.toString()).code)
    }

    @Test
    fun `a document signed by the Rust CLI verifies in Kotlin, and tampering is detected`() = test {
        val keyFile = dir.resolve("cli.jwk")
        val made = run(Paths.cli.path, "did", "new", "--out", keyFile.toString())
        assertEquals(0, made.code, made.stderr)
        val did = made.stdout.trim().lines().first().trim()
        assertTrue(did.startsWith("did:key:z6Mk"), did)
        assertEquals(did, Ed25519KeyPair.load(keyFile).did)

        val document = dir.resolve("td.json")
        Files.writeString(document, weatherTd().toString())
        val signedRun = run(Paths.cli.path, "sign", document.toString(), "--key", keyFile.toString())
        assertEquals(0, signedRun.code, signedRun.stderr)
        val signed = kotlinx.serialization.json.Json.parseToJsonElement(signedRun.stdout) as JsonObject
        val proofs = verifyDocument(signed)
        assertEquals(listOf(did), proofs.map { it.signer })

        val actions = signed["actions"]!!.jsonObject
        val forecast = actions["forecast"]!!.jsonObject
        val tampered = signed.with(
            "actions",
            JsonObject(actions + ("forecast" to forecast.with("output", jsonObjectOf("type" to "number")))),
        )
        assertIdentity("identity_signature_invalid", assertThrows<LmosException> { verifyDocument(tampered) })
        val proofValue = signed["proof"]!!.jsonObject.str("proofValue")!!
        val forged = signed.with("proof", signed["proof"]!!.jsonObject.with("proofValue", proofValue.dropLast(3) + "abc"))
        val forgedError = assertThrows<IdentityException> { verifyDocument(forged) }
        assertFalse(forgedError.message!!.contains(proofValue))
        assertIdentity("identity_proof_missing", assertThrows<LmosException> { verifyDocument(weatherTd()) })
    }

    @Test
    fun `a did web agent served by a Kotlin servient - its DID resolves, its signed TD is required and verified`() = test {
        val servient = Servient(httpPort = 0)
        servient.serve {
            val exposed = expose(weatherTd())
            exposed.onAction("forecast") { JsonPrimitive("sunny") }
            val did = didWebForUrl(baseUrl!!)
            assertEquals("did:web:127.0.0.1%3A${addresses.http!!.port}", did)
            assertEquals("${baseUrl}.well-known/did.json", didWebDocumentUrl(did, allowHttpLoopback = true))
            val key = Ed25519KeyPair.generate().withKeyId("$did#key-1")
            val document = didDocumentForAgent(did, key, exposed.tdUrl)
            assertEquals(
                JsonArray(listOf(jsonObjectOf("id" to "$did#td", "type" to "WotThing", "serviceEndpoint" to exposed.tdUrl))),
                document["service"],
            )
            serveDidDocument(document)
            setDescriptionSigner(key)

            val loopback = DidResolver(allowHttpLoopback = true)
            assertEquals(document, loopback.resolve(did))
            // Without the option a did:web is fetched over https only, which this servient does not speak.
            assertIdentity("identity_resolution_failed", assertThrows<LmosException> { resolveDid(did) })

            val options = ConsumeOptions(signaturePolicy = SignaturePolicy.REQUIRE, didResolver = loopback)
            val thing = consume(exposed.tdUrl!!, options)
            assertEquals(listOf(VerifiedProof("$did#key-1", did, ProofPurpose.ASSERTION_METHOD, thing.verifiedProofs[0].created)), thing.verifiedProofs)
            assertEquals(JsonPrimitive("sunny"), thing.invokeAction("forecast"))
            val served = thing.td
            assertEquals("$did#key-1", served["proof"]!!.jsonObject.str("verificationMethod"))
            assertEquals(did, consumeVerified(served, options).verifiedProofs[0].signer)
            // consume(td) does not touch the network: a did:web signer needs consumeVerified.
            assertThrows<InvalidThingDescription> { consume(served, options) }
            // Tampered after signing: refused even under the default policy.
            val tampered = served.with("title", "Weather (evil)")
            val refused = assertThrows<InvalidThingDescription> { consumeVerified(tampered, ConsumeOptions(didResolver = loopback)) }
            assertTrue(refused.message!!.contains("identity_signature_invalid"), refused.message)

            val cli = run(Paths.cli.path, "verify", exposed.tdUrl!!, "--allow-http-loopback")
            assertEquals(0, cli.code, cli.stderr + cli.stdout)
        }
    }

    @Test
    fun `the consume policy refuses an unsigned TD when signatures are required`() = test {
        Servient(httpPort = 0).serve {
            val exposed = expose(weatherTd())
            val require = ConsumeOptions(signaturePolicy = SignaturePolicy.REQUIRE)
            val refused = assertThrows<InvalidThingDescription> { consume(exposed.tdUrl!!, require) }
            assertTrue(refused.message!!.contains("identity_proof_missing"), refused.message)
            assertThrows<InvalidThingDescription> { consume(exposed.td, require) }
            // The default accepts a TD without a proof; IGNORE does not look at a broken one.
            assertEquals(emptyList<VerifiedProof>(), consume(exposed.tdUrl!!).verifiedProofs)
            val broken = exposed.td.with("proof", mapOf("type" to "DataIntegrityProof", "cryptosuite" to "eddsa-jcs-2022"))
            assertThrows<InvalidThingDescription> { consume(broken) }
            assertEquals(emptyList<VerifiedProof>(), consume(broken, ConsumeOptions(signaturePolicy = SignaturePolicy.IGNORE)).verifiedProofs)
        }
    }

    @Test
    fun `the servient's signDescriptions option signs every TD as served (did key)`() = test {
        val key = Ed25519KeyPair.generate()
        val servient = Servient(httpPort = 0, signDescriptions = key)
        servient.serve {
            val exposed = expose(weatherTd())
            val require = ConsumeOptions(signaturePolicy = SignaturePolicy.REQUIRE)
            val thing = consume(exposed.tdUrl!!, require)
            assertEquals(key.did, thing.verifiedProofs.single().signer)
            // The proof covers the hrefs as served.
            val href = thing.td["actions"]!!.jsonObject["forecast"]!!.jsonObject["forms"]!!.jsonArray[0].str("href")!!
            assertTrue(href.startsWith(baseUrl!!), href)
            verifyDocument(thing.td)
            setDescriptionSigner(null)
            val unsigned = assertThrows<InvalidThingDescription> { consume(exposed.tdUrl!!, require) }
            assertTrue(unsigned.message!!.contains("identity_proof_missing"), unsigned.message)
        }
    }

    @Test
    fun `verifiable credentials - issue, verify, check requirements, tampering and expiry are refused`() = test {
        val issuer = Ed25519KeyPair.generate()
        val member = Ed25519KeyPair.generate()
        val credential = issueCredential(
            issuer,
            subject = member.did,
            types = listOf("AgentGroupMembership"),
            claims = jsonObjectOf("group" to "travel"),
            validUntil = "2999-01-01T00:00:00Z",
        )
        assertEquals(JsonArray(listOf(JsonPrimitive("VerifiableCredential"), JsonPrimitive("AgentGroupMembership"))), credential["type"])
        assertEquals(issuer.did, credential.str("issuer"))
        assertEquals("travel", credential["credentialSubject"]!!.str("group"))

        val verified = verifyCredential(credential)
        assertEquals(issuer.did, verified.issuer)
        assertEquals(listOf(member.did), verified.subjects)
        assertTrue("AgentGroupMembership" in verified.types)
        assertEquals("2999-01-01T00:00:00Z", verified.validUntil)
        assertEquals(credential, verified.credential)

        val requirement = CredentialRequirement("AgentGroupMembership", issuer.did)
        checkCredentials(listOf(requirement), member.did, listOf(verified))
        val notHeld = assertThrows<IdentityException> { checkCredentials(listOf(requirement), issuer.did, listOf(verified)) }
        assertEquals("identity_credential_required", notHeld.code)
        assertEquals("AgentGroupMembership", notHeld.credentialType)
        assertEquals(issuer.did, notHeld.issuer)
        assertIdentity(
            "identity_credential_required",
            assertThrows<LmosException> { checkCredentials(listOf(CredentialRequirement("Admin", issuer.did)), member.did, listOf(verified)) },
        )
        assertEquals(
            listOf(requirement),
            requiredCredentials(jsonObjectOf("lmos:requiredCredentials" to mapOf("type" to "AgentGroupMembership", "issuer" to issuer.did))),
        )
        assertEquals(emptyList<CredentialRequirement>(), requiredCredentials(jsonObjectOf("title" to "open")))

        val subject = credential["credentialSubject"]!!.jsonObject
        val tampered = credential.with("credentialSubject", subject.with("group", "admins"))
        assertIdentity("identity_signature_invalid", assertThrows<LmosException> { verifyCredential(tampered) })
        assertIdentity(
            "identity_credential_not_valid",
            assertThrows<LmosException> { verifyCredential(credential, now = Instant.parse("3000-01-01T00:00:00Z")) },
        )
        assertIdentity("identity_invalid_credential", assertThrows<LmosException> { issueCredential(issuer, subject = "not a did") })
        assertIdentity(
            "identity_invalid_credential",
            assertThrows<LmosException> { issueCredential(issuer, subject = member.did, validUntil = "tomorrow") },
        )
    }

    @Test
    fun `DID-auth - a token minted in Kotlin is verified once, for its audience, with its credentials`() = test {
        val owner = Ed25519KeyPair.generate()
        val caller = Ed25519KeyPair.generate()
        val membership = issueCredential(owner, subject = caller.did, types = listOf("AgentGroupMembership"))
        val scheme = didAuthSecurityScheme()
        assertEquals("bearer", scheme.str("scheme"))
        assertEquals(JsonPrimitive(true), scheme["lmos:didAuth"])
        val actions = weatherTd()["actions"]!!.jsonObject
        val withForms = weatherTd().with(
            "actions",
            JsonObject(actions + ("forecast" to actions["forecast"]!!.jsonObject.with("forms", listOf(mapOf("href" to "http://127.0.0.1:1/weather/actions/forecast"))))),
        )
        val audience = didAuthAudience(withForms, "http://127.0.0.1:1/weather")
        assertEquals("urn:example:signed-weather", audience)

        val token = mintDidAuth(caller, audience!!, lifetime = 60.seconds, credentials = listOf(membership))
        assertEquals(3, token.split(".").size)
        val verifier = DidAuthVerifier()
        val verified = verifier.verify("Bearer $token", audience)
        assertEquals(caller.did, verified.did)
        assertEquals(caller.keyId, verified.keyId)
        assertTrue(verified.expiresAt > Instant.now().epochSecond)
        assertEquals(owner.did, verified.credentials.single().issuer)
        assertTrue(verified.holds(CredentialRequirement("AgentGroupMembership", owner.did)))
        assertFalse(verified.holds(CredentialRequirement("AgentGroupMembership", caller.did)))
        verified.require(listOf(CredentialRequirement("AgentGroupMembership", owner.did)))

        val replayed = assertThrows<IdentityException> { verifier.verify(token, audience) }
        assertEquals("identity_token_replayed", replayed.code)
        assertFalse(replayed.message!!.contains(token))
        assertIdentity("identity_wrong_audience", assertThrows<LmosException> { verifier.verify(mintDidAuth(caller, "urn:example:someone-else"), audience) })
        val (header, _, signature) = token.split(".")
        val forgedClaims = Base64.getUrlEncoder().withoutPadding()
            .encodeToString(jsonObjectOf("iss" to owner.did, "aud" to audience).toString().toByteArray())
        assertThrows<IdentityException> { verifier.verify("$header.$forgedClaims.$signature", audience) }
        assertIdentity("identity_invalid_token", assertThrows<LmosException> { verifier.verify("not.a.token", audience) })
        assertThrows<IllegalArgumentException> { mintDidAuth(caller, audience, lifetime = 0.seconds) }
    }
}
