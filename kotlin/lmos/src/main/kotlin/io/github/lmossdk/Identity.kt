package io.github.lmossdk

import io.github.lmossdk.ffi.NativeDidAuthVerifier
import io.github.lmossdk.ffi.NativeKeyPair
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.longOrNull
import java.nio.file.Path
import java.time.Instant
import kotlin.time.Duration

/**
 * An Ed25519 key pair. The private key stays in the native library: it leaves only through
 * [toPrivateJwk], [toSecretMultibase] and [save], and never appears in [toString] or an error.
 */
class Ed25519KeyPair private constructor(internal val native: NativeKeyPair) {
    /** The verification method the key signs as (the `did:key` method unless [withKeyId]). */
    val keyId: String get() = native.keyId()

    /** The key's DID (the DID part of [keyId]). */
    val did: String get() = native.did()

    /** The public key, multibase (`z6Mk…`). */
    val publicKeyMultibase: String get() = native.publicKeyMultibase()

    /** The public key as a JWK (`kty` OKP, `crv` Ed25519, `x`). */
    val publicJwk: JsonObject get() = parseObject(native { native.publicJwk() }, "the public JWK")

    /** The same key, signing as the verification method [keyId] (e.g. `did:web:…#key-1`). */
    fun withKeyId(keyId: String): Ed25519KeyPair = Ed25519KeyPair(native.withKeyId(keyId))

    /** The private key as a JWK. Secret. */
    fun toPrivateJwk(): JsonObject = parseObject(native.toPrivateJwk(), "the private JWK")

    /** The private key, multibase (`z3u2…`). Secret. */
    fun toSecretMultibase(): String = native.toSecretMultibase()

    /** Writes the key as a private JWK, readable by the owner only (mode 0600). */
    fun save(path: Path) = native { native.save(path.toString()) }

    /** The 64-byte Ed25519 signature of [message]. */
    fun sign(message: ByteArray): ByteArray = native.sign(message)

    /** The signature of [message] as UTF-8. */
    fun sign(message: String): ByteArray = sign(message.toByteArray())

    override fun toString(): String = "Ed25519KeyPair($keyId)"

    companion object {
        /** A fresh key from the OS random source. */
        fun generate(): Ed25519KeyPair = Ed25519KeyPair(native { NativeKeyPair.generate() })

        /** A key from a private JWK. */
        fun fromJwk(jwk: JsonObject): Ed25519KeyPair = Ed25519KeyPair(native { NativeKeyPair.fromText(jwk.toText()) })

        /** A key from a multibase private key (`z3u2…`). */
        fun fromMultibase(secret: String): Ed25519KeyPair {
            require(!secret.trimStart().startsWith("{")) { "a multibase key does not start with '{' (use fromJwk)" }
            return Ed25519KeyPair(native { NativeKeyPair.fromText(secret) })
        }

        /** Reads a key file: a private JWK or a one-line multibase private key. */
        fun load(path: Path): Ed25519KeyPair = Ed25519KeyPair(native { NativeKeyPair.load(path.toString()) })
    }
}

/**
 * Checks an Ed25519 signature by [publicKey] (multibase `z6Mk…`, a `did:key`, or a JWK as JSON
 * text); throws [IdentityException] (`identity_signature_invalid`) when it does not verify.
 */
fun verifySignature(publicKey: String, message: ByteArray, signature: ByteArray) =
    native { io.github.lmossdk.ffi.verifySignature(publicKey, message, signature) }

/** [verifySignature] with the public key of [key]. */
fun verifySignature(key: Ed25519KeyPair, message: ByteArray, signature: ByteArray) =
    verifySignature(key.publicKeyMultibase, message, signature)

/**
 * How DIDs are resolved: `did:key` offline, `did:web` over HTTPS with verified certificates,
 * [pinned] documents without the network.
 *
 * @param allowHttpLoopback fetch `did:web` documents of loopback hosts over plain http (tests)
 * @param timeout bound on one fetch (default 10 s)
 * @param maxDocumentBytes largest DID document accepted (default 256 KiB)
 * @param cacheTtl how long a fetched document is reused (default 5 min; zero: always fetch)
 */
data class DidResolver(
    val allowHttpLoopback: Boolean = false,
    val timeout: Duration? = null,
    val maxDocumentBytes: Long? = null,
    val cacheTtl: Duration? = null,
    val pinned: List<JsonObject> = emptyList(),
) {
    internal fun toJson(): JsonObject = toJsonElement(
        buildMap<String, Any?> {
            if (allowHttpLoopback) put("allowHttpLoopback", true)
            timeout?.let { put("timeoutMs", it.inWholeMilliseconds) }
            maxDocumentBytes?.let { put("maxDocumentBytes", it) }
            cacheTtl?.let { put("cacheTtlMs", it.inWholeMilliseconds) }
            if (pinned.isNotEmpty()) put("pinned", pinned)
        },
    ) as JsonObject

    /** The DID document of [did]. */
    suspend fun resolve(did: String): JsonObject =
        parseObject(call { io.github.lmossdk.ffi.resolveDid(did, toJson().toText()) }, "the DID document")
}

/** Resolves [did] with [resolver] (default: did:key offline, did:web over HTTPS). */
suspend fun resolveDid(did: String, resolver: DidResolver = DidResolver()): JsonObject = resolver.resolve(did)

/** The DID document of a `did:key`, without the network. */
fun didKeyDocument(did: String): JsonObject =
    parseObject(native { io.github.lmossdk.ffi.resolveDidKey(did) }, "the DID document")

/** The `did:web` DID of a URL (`http://127.0.0.1:8080/` → `did:web:127.0.0.1%3A8080`). */
fun didWebForUrl(url: String): String = native { io.github.lmossdk.ffi.didWebForUrl(url) }

/** Where the document of a `did:web` DID is fetched from. */
fun didWebDocumentUrl(did: String, allowHttpLoopback: Boolean = false): String =
    native { io.github.lmossdk.ffi.didWebDocumentUrl(did, allowHttpLoopback) }

/**
 * An agent's DID document: [key]'s public key as `{did}#key-1` in every relationship and, with
 * [tdUrl], a `WotThing` service `{did}#td` pointing at its TD.
 */
fun didDocumentForAgent(did: String, key: Ed25519KeyPair, tdUrl: String? = null): JsonObject =
    parseObject(native { io.github.lmossdk.ffi.didDocumentForAgent(did, key.publicKeyMultibase, tdUrl) }, "the DID document")

/** Reads a DID document (checked) and returns it in its normal form. */
fun parseDidDocument(document: JsonObject): JsonObject =
    parseObject(native { io.github.lmossdk.ffi.parseDidDocument(document.toText()) }, "the DID document")

/** What a proof or a verification method is for. */
enum class ProofPurpose(internal val wire: String) {
    ASSERTION_METHOD("assertionMethod"),
    AUTHENTICATION("authentication"),
    CAPABILITY_INVOCATION("capabilityInvocation"),
    CAPABILITY_DELEGATION("capabilityDelegation"),
    ;

    internal companion object {
        fun of(wire: String?): ProofPurpose = entries.firstOrNull { it.wire == wire } ?: ASSERTION_METHOD
    }
}

/**
 * Signs a JSON object (a TD, a credential, any document) with a W3C Data Integrity
 * `eddsa-jcs-2022` proof by [key]; returns the signed copy (a second signature makes `proof` a
 * proof set). [created] and [expires] are RFC 3339 times (default `created`: now).
 */
fun signDocument(
    document: JsonObject,
    key: Ed25519KeyPair,
    purpose: ProofPurpose? = null,
    verificationMethod: String? = null,
    created: String? = null,
    expires: String? = null,
    id: String? = null,
    domain: String? = null,
    challenge: String? = null,
): JsonObject {
    val options = buildMap<String, Any?> {
        purpose?.let { put("proofPurpose", it.wire) }
        verificationMethod?.let { put("verificationMethod", it) }
        created?.let { put("created", it) }
        expires?.let { put("expires", it) }
        id?.let { put("id", it) }
        domain?.let { put("domain", it) }
        challenge?.let { put("challenge", it) }
    }
    return parseObject(
        native { io.github.lmossdk.ffi.signDocument(document.toText(), key.native, toJsonElement(options).toText()) },
        "the signed document",
    )
}

/** A proof that verified: who signed ([signer], a DID), with which method, for what. */
data class VerifiedProof(val verificationMethod: String, val signer: String, val purpose: ProofPurpose, val created: String?) {
    internal companion object {
        fun from(element: JsonElement): VerifiedProof {
            val o = element as? JsonObject ?: throw CodecError("not a verified proof: $element")
            return VerifiedProof(
                verificationMethod = o.str("verificationMethod") ?: "",
                signer = o.str("signer") ?: "",
                purpose = ProofPurpose.of(o.str("purpose")),
                created = o.str("created"),
            )
        }

        fun list(text: String): List<VerifiedProof> =
            (parseJson(text) as? JsonArray ?: throw CodecError("not a list of proofs")).map { from(it) }
    }
}

private fun JsonObject.str(name: String): String? = (this[name] as? JsonPrimitive)?.takeIf { it.isString }?.content

private fun JsonObject.strings(name: String): List<String> =
    (this[name] as? JsonArray)?.mapNotNull { (it as? JsonPrimitive)?.takeIf { p -> p.isString }?.content } ?: emptyList()

/**
 * Verifies every proof on [document] (there must be at least one); returns them. Throws
 * [IdentityException] (`identity_proof_missing`, `identity_signature_invalid`, ...).
 */
suspend fun verifyDocument(document: JsonObject, resolver: DidResolver = DidResolver()): List<VerifiedProof> =
    VerifiedProof.list(call { io.github.lmossdk.ffi.verifySignedDocument(document.toText(), resolver.toJson().toText()) })

/** A credential that verified, with the members a decision needs; [json] is how it crosses. */
data class VerifiedCredential(
    val id: String?,
    val types: List<String>,
    val issuer: String,
    val subjects: List<String>,
    val validFrom: String?,
    val validUntil: String?,
    /** The credential as presented. */
    val credential: JsonObject,
    internal val json: JsonObject,
) {
    override fun toString(): String = "VerifiedCredential(types=$types, issuer=$issuer, subjects=$subjects)"

    internal companion object {
        fun from(element: JsonElement): VerifiedCredential {
            val o = element as? JsonObject ?: throw CodecError("not a verified credential: $element")
            return VerifiedCredential(
                id = o.str("id"),
                types = o.strings("types"),
                issuer = o.str("issuer") ?: "",
                subjects = o.strings("subjects"),
                validFrom = o.str("validFrom"),
                validUntil = o.str("validUntil"),
                credential = o["credential"] as? JsonObject ?: JsonObject(emptyMap()),
                json = o,
            )
        }
    }
}

/**
 * Issues a VC 2.0 credential about [subject] (a DID) signed by [issuer] (whose DID becomes the
 * issuer); [types] are added after `VerifiableCredential`, [claims] go into
 * `credentialSubject`. Times are RFC 3339.
 */
fun issueCredential(
    issuer: Ed25519KeyPair,
    subject: String,
    types: List<String> = emptyList(),
    claims: JsonObject = JsonObject(emptyMap()),
    validFrom: String? = null,
    validUntil: String? = null,
    id: String? = null,
    contexts: List<JsonElement> = emptyList(),
): JsonObject {
    val options = buildMap<String, Any?> {
        put("subject", subject)
        if (types.isNotEmpty()) put("type", types)
        if (claims.isNotEmpty()) put("claims", claims)
        validFrom?.let { put("validFrom", it) }
        validUntil?.let { put("validUntil", it) }
        id?.let { put("id", it) }
        if (contexts.isNotEmpty()) put("contexts", contexts)
    }
    return parseObject(
        native { io.github.lmossdk.ffi.issueVerifiableCredential(issuer.native, toJsonElement(options).toText()) },
        "the credential",
    )
}

/**
 * Verifies a credential: its shape, its validity at [now], and that every proof is an
 * `assertionMethod` proof by a key of the issuer's DID.
 */
suspend fun verifyCredential(credential: JsonObject, resolver: DidResolver = DidResolver(), now: Instant? = null): VerifiedCredential =
    VerifiedCredential.from(
        parseJson(call { io.github.lmossdk.ffi.verifyVerifiableCredential(credential.toText(), resolver.toJson().toText(), now?.epochSecond) }),
    )

/** A credential an affordance requires: one of type [type] issued by [issuer] (a DID). */
data class CredentialRequirement(val type: String, val issuer: String) {
    internal fun toJson(): JsonObject = jsonObjectOf("type" to type, "issuer" to issuer)
}

/**
 * Checks that [holder] meets every requirement with [credentials] that verified; throws
 * [IdentityException] `identity_credential_required` (with the type and issuer) for the first
 * unmet one.
 */
fun checkCredentials(requirements: List<CredentialRequirement>, holder: String, credentials: List<VerifiedCredential>) =
    native {
        io.github.lmossdk.ffi.checkCredentialRequirements(
            JsonArray(requirements.map { it.toJson() }).toText(),
            holder,
            JsonArray(credentials.map { it.json }).toText(),
        )
    }

/** The requirements a TD member map (a thing or an affordance) declares in `lmos:requiredCredentials`. */
fun requiredCredentials(members: JsonObject): List<CredentialRequirement> {
    val list = parseJson(native { io.github.lmossdk.ffi.declaredCredentialRequirements(members.toText()) })
    return (list as? JsonArray ?: JsonArray(emptyList())).mapNotNull { element ->
        val o = element as? JsonObject ?: return@mapNotNull null
        CredentialRequirement(o.str("type") ?: "", o.str("issuer") ?: "")
    }
}

/**
 * A DID-auth token (a compact JWS signed by [key]) for [audience], valid for [lifetime]
 * (default 2 minutes, at most 10), presenting [credentials]. Send it as
 * `Authorization: Bearer <token>`.
 */
fun mintDidAuth(key: Ed25519KeyPair, audience: String, lifetime: Duration? = null, credentials: List<JsonObject> = emptyList()): String {
    val seconds = lifetime?.let {
        require(it.inWholeSeconds >= 1) { "the token lifetime must be at least one second, not $it" }
        it.inWholeSeconds.toULong()
    }
    return native { io.github.lmossdk.ffi.mintDidAuthToken(key.native, audience, seconds, JsonArray(credentials).toText()) }
}

/** The TD security scheme that declares DID-auth (a bearer scheme marked `lmos:didAuth`). */
fun didAuthSecurityScheme(): JsonObject =
    parseObject(native { io.github.lmossdk.ffi.didAuthSecurityScheme() }, "the security scheme")

/** The audience a DID-auth token for the thing of [td] names: its `id`, else [tdUrl]. */
fun didAuthAudience(td: JsonObject, tdUrl: String? = null): String? =
    native { io.github.lmossdk.ffi.didAuthAudience(td.toText(), tdUrl) }

/** A caller whose DID-auth token verified. [expiresAt] is in Unix seconds. */
data class VerifiedCaller(val did: String, val keyId: String, val jti: String, val expiresAt: Long, val credentials: List<VerifiedCredential>) {
    /** Whether the caller holds a credential meeting [requirement]. */
    fun holds(requirement: CredentialRequirement): Boolean =
        runCatching { checkCredentials(listOf(requirement), did, credentials) }.isSuccess

    /** Throws `identity_credential_required` unless the caller meets every requirement. */
    fun require(requirements: List<CredentialRequirement>) = checkCredentials(requirements, did, credentials)
}

/**
 * Verifies DID-auth tokens: signature by a key the caller's DID document lists under
 * `authentication`, audience, lifetime, presented credentials, and no replay (token ids are
 * remembered until they expire, in this process).
 */
class DidAuthVerifier(
    resolver: DidResolver = DidResolver(),
    maxLifetime: Duration? = null,
    leeway: Duration? = null,
    replayCapacity: Int? = null,
) {
    private val native: NativeDidAuthVerifier = native {
        val options = buildMap<String, Any?> {
            put("resolver", resolver.toJson())
            maxLifetime?.let { put("maxLifetimeSeconds", it.inWholeSeconds) }
            leeway?.let { put("leewaySeconds", it.inWholeSeconds) }
            replayCapacity?.let { put("replayCapacity", it) }
        }
        NativeDidAuthVerifier(toJsonElement(options).toText())
    }

    /** Verifies [token] (with or without `Bearer `) for [audience]; the caller it proves. */
    suspend fun verify(token: String, audience: String): VerifiedCaller {
        val o = parseObject(call { native.verify(token, audience) }, "the verified caller")
        return VerifiedCaller(
            did = o.str("did") ?: "",
            keyId = o.str("keyId") ?: "",
            jti = o.str("jti") ?: "",
            expiresAt = (o["expiresAt"] as? JsonPrimitive)?.longOrNull ?: 0,
            credentials = (o["credentials"] as? JsonArray ?: JsonArray(emptyList())).map { VerifiedCredential.from(it) },
        )
    }
}

/** What a consumer does with the Data Integrity proof of a TD. */
enum class SignaturePolicy(internal val wire: String) {
    /** Refuse a TD without a proof or with one that does not verify. */
    REQUIRE("require"),

    /** Refuse a TD whose proof does not verify; accept one without (the default). */
    VERIFY_IF_PRESENT("verifyIfPresent"),

    /** Do not look at proofs. */
    IGNORE("ignore"),
}

