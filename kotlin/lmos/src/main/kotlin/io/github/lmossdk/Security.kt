package io.github.lmossdk

import kotlinx.serialization.json.JsonObject
import kotlin.time.Duration

// Security as data: these classes become the JSON the core reads (`lmos::security::VerifierOptions`,
// `TlsOptions`, `CredentialOptions`). None of them prints a secret in toString().

private const val REDACTED = "<redacted>"

/** How the client of a token introspection endpoint (RFC 7662) authenticates. */
class Introspection(val url: String, val clientId: String, private val clientSecret: String) {
    internal fun toJson(): Map<String, Any?> = mapOf("url" to url, "clientId" to clientId, "clientSecret" to clientSecret)

    override fun toString(): String = "Introspection($url, clientId=$clientId, clientSecret=$REDACTED)"
}

/**
 * How a servient checks the tokens of `bearer` (or `oauth2`) schemes: exactly one of
 * [hmacSecret] (HS256/384/512), [keys] (JWKs), [publicKeysPem], [jwksUrl] or [introspection];
 * optionally the accepted [audience], [issuer] and [algorithms], and a clock [leeway].
 */
class TokenVerification(
    private val hmacSecret: String? = null,
    val keys: List<JsonObject>? = null,
    val publicKeysPem: List<String>? = null,
    val jwksUrl: String? = null,
    val introspection: Introspection? = null,
    val audience: List<String>? = null,
    val issuer: List<String>? = null,
    val algorithms: List<String>? = null,
    val leeway: Duration? = null,
    /** Extra CA certificates (PEM) trusted when fetching [jwksUrl] or calling [introspection]. */
    val extraCaPem: String? = null,
) {
    internal fun toJson(): Map<String, Any?> = buildMap {
        hmacSecret?.let { put("hmacSecret", it) }
        this@TokenVerification.keys?.let { put("keys", it) }
        publicKeysPem?.let { put("publicKeysPem", it) }
        jwksUrl?.let { put("jwksUrl", it) }
        introspection?.let { put("introspection", it.toJson()) }
        audience?.let { put("audience", it) }
        issuer?.let { put("issuer", it) }
        algorithms?.let { put("algorithms", it) }
        leeway?.let { put("leewayMs", it.inWholeMilliseconds) }
        extraCaPem?.let { put("extraCaPem", it) }
    }

    override fun toString(): String =
        "TokenVerification(${if (hmacSecret != null) "hmacSecret=$REDACTED" else jwksUrl ?: introspection?.url ?: "keys"})"
}

/**
 * How a servient checks DID-authenticated requests (a `bearer` scheme with `lmos:didAuth`, see
 * [didAuthSecurityScheme]): the caller's DID is resolved with [resolver], its token may live at
 * most [maxLifetime] (also the replay window) with a clock [leeway], and the last
 * [replayCapacity] token ids are remembered.
 */
class DidAuthVerification(
    val resolver: DidResolver = DidResolver(),
    val maxLifetime: Duration? = null,
    val leeway: Duration? = null,
    val replayCapacity: Int? = null,
) {
    internal fun toJson(): Map<String, Any?> = buildMap {
        put("resolver", resolver.toJson())
        maxLifetime?.let { put("maxLifetimeMs", it.inWholeMilliseconds) }
        leeway?.let { put("leewayMs", it.inWholeMilliseconds) }
        replayCapacity?.let { put("replayCapacity", it) }
    }

    override fun toString(): String = "DidAuthVerification(maxLifetime=$maxLifetime)"
}

/**
 * What a servient accepts for the security schemes its things declare (basic, bearer, apikey,
 * oauth2, DID-auth, and combinations of them): [basic] users and passwords, [bearer] and [oauth2]
 * token checks, [apiKeys], [didAuth]. A thing whose TD declares a scheme without a verifier here
 * cannot be exposed.
 */
class ServerSecurity(
    private val basic: Map<String, String> = emptyMap(),
    val bearer: TokenVerification? = null,
    val oauth2: TokenVerification? = null,
    private val apiKeys: List<String> = emptyList(),
    val didAuth: DidAuthVerification? = null,
) {
    internal fun toJson(): Map<String, Any?> = buildMap {
        if (basic.isNotEmpty()) put("basic", basic)
        bearer?.let { put("bearer", it.toJson()) }
        oauth2?.let { put("oauth2", it.toJson()) }
        if (apiKeys.isNotEmpty()) put("apiKeys", apiKeys)
        didAuth?.let { put("didAuth", it.toJson()) }
    }

    override fun toString(): String =
        "ServerSecurity(basic users=${basic.keys}, bearer=$bearer, oauth2=$oauth2, apiKeys=${apiKeys.size}, didAuth=$didAuth)"
}

/** The certificate chain and private key a servient serves `https`/`wss` with (PEM text or files). */
class TlsConfig private constructor(private val members: Map<String, String>) {
    internal fun toJson(): Map<String, Any?> = members

    override fun toString(): String = "TlsConfig(${members["certFile"] ?: "PEM"})"

    companion object {
        /** From PEM files. */
        fun fromFiles(certFile: String, keyFile: String) = TlsConfig(mapOf("certFile" to certFile, "keyFile" to keyFile))

        /** From PEM text. */
        fun fromPem(certPem: String, keyPem: String) = TlsConfig(mapOf("certPem" to certPem, "keyPem" to keyPem))
    }
}

/** The client credentials of an OAuth2 `client_credentials` grant (the token URL defaults to the TD's). */
class OAuth2Client(
    val clientId: String,
    private val clientSecret: String,
    val scopes: List<String>? = null,
    val tokenUrl: String? = null,
    val refreshMargin: Duration? = null,
    val extraCaPem: String? = null,
) {
    internal fun toJson(): Map<String, Any?> = buildMap {
        put("clientId", clientId)
        put("clientSecret", clientSecret)
        scopes?.let { put("scopes", it) }
        tokenUrl?.let { put("tokenUrl", it) }
        refreshMargin?.let { put("refreshMarginMs", it.inWholeMilliseconds) }
        extraCaPem?.let { put("extraCaPem", it) }
    }

    override fun toString(): String = "OAuth2Client($clientId, clientSecret=$REDACTED)"
}

/**
 * The caller's DID key for DID-authenticated requests: a fresh token signed with [key] (`iss` its
 * DID, `aud` the thing) is minted per HTTP request and per WebSocket connection, carrying those
 * of [credentials] the TD asks for; each lives [lifetime] (default 2 minutes).
 */
class DidAuthCredential(
    private val key: Ed25519KeyPair,
    val credentials: List<JsonObject> = emptyList(),
    val lifetime: Duration? = null,
) {
    internal fun toJson(): Map<String, Any?> = buildMap {
        put("key", key.toPrivateJwk())
        put("keyId", key.keyId)
        if (credentials.isNotEmpty()) put("credentials", credentials)
        lifetime?.let { put("lifetimeMs", it.inWholeMilliseconds) }
    }

    override fun toString(): String = "DidAuthCredential(${key.did})"
}

/**
 * What a consumer sends for the security schemes a TD declares: [basic] user and password, a
 * [bearer] token, an [apiKey], an [oauth2] client, a [didAuth] key. Only what a form's scheme
 * asks for is sent.
 */
class Credentials(
    private val basic: Pair<String, String>? = null,
    private val bearer: String? = null,
    private val apiKey: String? = null,
    val oauth2: OAuth2Client? = null,
    val didAuth: DidAuthCredential? = null,
) {
    internal fun toJson(): Map<String, Any?> = buildMap {
        basic?.let { (user, password) -> put("basic", mapOf("username" to user, "password" to password)) }
        bearer?.let { put("bearer", it) }
        apiKey?.let { put("apiKey", it) }
        oauth2?.let { put("oauth2", it.toJson()) }
        didAuth?.let { put("didAuth", it.toJson()) }
    }

    override fun toString(): String = buildList {
        basic?.let { add("basic=${it.first}:$REDACTED") }
        bearer?.let { add("bearer=$REDACTED") }
        apiKey?.let { add("apiKey=$REDACTED") }
        oauth2?.let { add("oauth2=$it") }
        didAuth?.let { add("didAuth=$it") }
    }.joinToString(prefix = "Credentials(", postfix = ")")
}
