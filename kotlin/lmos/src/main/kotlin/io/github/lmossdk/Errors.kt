package io.github.lmossdk

import io.github.lmossdk.ffi.NativeException
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.intOrNull
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject

/**
 * Base class of every error lmos throws. [code] is the stable machine-readable code of the Rust
 * core (`not_found`, `remote_error`, ...); the subclasses carry the error's fields.
 */
sealed class LmosException(message: String, val code: String, cause: Throwable? = null) :
    Exception(message, cause)

/** The document is not a valid Thing Description; [report] lists every problem. */
class InvalidThingDescription(message: String, val report: ValidationReport?) :
    LmosException(message, "invalid_td")

/** A payload breaks its data schema; [violations] lists every way it does. */
open class InvalidPayload(
    message: String,
    val violations: List<PayloadViolation> = emptyList(),
    code: String = "invalid_payload",
) : LmosException(message, code)

/**
 * An input the thing refuses. Throw it from a handler to refuse an input with a message the
 * caller sees (HTTP 400).
 */
class InvalidInput(message: String, violations: List<PayloadViolation> = emptyList()) :
    InvalidPayload(message, violations, "invalid_input")

/** A value a thing returned breaks the schema its TD promises (or is no AgentResult). */
class InvalidOutput(message: String, violations: List<PayloadViolation> = emptyList()) :
    InvalidPayload(message, violations, "invalid_output")

/** Unusable configuration: a bad public base URL, a duplicate thing, an uncompilable schema. */
class ConfigurationError(message: String, code: String = "invalid_config") :
    LmosException(message, code)

/** A server port could not be bound. */
class BindError(message: String, val address: String?) : LmosException(message, "bind_failed")

/** No thing, property, action, event or action instance with that name ([kind], [target]). */
class NotFound(message: String, val kind: String?, val target: String?) :
    LmosException(message, "not_found")

/** The affordance does not allow the operation (e.g. writing a read-only property). */
class NotAllowed(message: String, val affordance: String?, val operation: String?) :
    LmosException(message, "not_allowed")

/** A request that cannot be read. */
class BadRequest(message: String) : LmosException(message, "bad_request")

/** A handler failed. */
class HandlerFailed(message: String) : LmosException(message, "handler_failed")

/** The TD has no form for the operation that the consume options allow. */
class NoForm(message: String, val operation: String?, val affordance: String?) :
    LmosException(message, "no_form")

/**
 * The thing answered with an error status; [problem] is its problem document, if it sent one.
 * The code is `remote_not_found` for a 404, `remote_bad_request` for a 400, else `remote_error`.
 */
open class RemoteError(
    message: String,
    val status: Int?,
    val title: String?,
    val detail: String?,
    val problem: JsonObject?,
    code: String = "remote_error",
) : LmosException(message, code)

/**
 * The thing refused the call for its security: [status] 401 (missing or wrong credentials) or
 * 403 (not allowed). The message never carries the credential.
 */
class AccessRefused(
    message: String,
    status: Int,
    title: String?,
    detail: String?,
    problem: JsonObject?,
) : RemoteError(message, status, title, detail, problem)

/** The thing could not be reached, the connection broke or the request timed out. */
class TransportError(message: String, code: String = "transport") : LmosException(message, code)

/** A payload could not be encoded or decoded. */
class CodecError(message: String) : LmosException(message, "codec")

/** An asynchronous action ended in failure; [problem] holds the problem document. */
class ActionFailed(message: String, val title: String?, val problem: JsonObject?) :
    LmosException(message, "action_failed")

/** The action was cancelled. Throw it from a handler that stops because of a cancellation. */
class ActionCancelled(message: String = "cancelled") : LmosException(message, "action_cancelled")

/** The action had already finished when it was cancelled. */
class ActionFinished(message: String) : LmosException(message, "action_finished")

/** A W3C trace context could not be read or made. */
class TraceError(message: String) : LmosException(message, "trace")

/** The servient or the stream was shut down. */
class Closed(message: String) : LmosException(message, "closed")

/**
 * A directory operation failed; [code] says how (`directory_invalid_td`, `directory_bad_request`,
 * `directory_status` with its [status], `directory_transport`, `directory_store`,
 * `directory_config`).
 */
open class DirectoryException(message: String, code: String, val status: Int? = null) : LmosException(message, code)

/** The directory has no (unexpired) TD with this [id]. */
class DirectoryNotFound(message: String, val id: String?) : DirectoryException(message, "directory_not_found", 404)

/**
 * Discovery failed outside a directory call: a thing that cannot be registered yet
 * (`discovery_not_registrable`: its servient has not started) or mDNS (`discovery_mdns`).
 */
class DiscoveryException(message: String, code: String) : LmosException(message, code)

/**
 * A key, DID, signature, credential or DID-auth token was refused; [code] is the core's
 * (`identity_signature_invalid`, `identity_proof_missing`, `identity_token_replayed`, ...). The
 * message never carries a private key, a token or a signature. [did], [credentialType] and
 * [issuer] are set where they apply.
 */
class IdentityException(
    message: String,
    code: String,
    val did: String? = null,
    val credentialType: String? = null,
    val issuer: String? = null,
) : LmosException(message, code)

/** A failure inside the library itself (a bad argument, the native runtime); [code] says which. */
class InternalLmosError(message: String, code: String) : LmosException(message, code)

private fun JsonObject.string(name: String): String? = (this[name] as? JsonPrimitive)
    ?.takeIf { it.isString }?.content

private fun JsonObject.violations(): List<PayloadViolation> =
    (this["violations"] as? kotlinx.serialization.json.JsonArray)?.mapNotNull {
        PayloadViolation.from(it)
    } ?: emptyList()

/** The lmos exception for a native error. */
internal fun NativeException.toLmos(): LmosException = when (this) {
    is NativeException.Lmos -> lmosException(code, text, details)
}

internal fun lmosException(code: String, message: String, detailsText: String): LmosException {
    val details = runCatching { parseJson(detailsText).jsonObject }.getOrDefault(JsonObject(emptyMap()))
    return when (code) {
        "invalid_td" -> InvalidThingDescription(
            message,
            (details["report"] as? JsonObject)?.let { ValidationReport.from(it) },
        )
        "invalid_payload" -> InvalidPayload(message, details.violations())
        "invalid_input" -> InvalidInput(message, details.violations())
        "invalid_output" -> InvalidOutput(message, details.violations())
        "invalid_config", "duplicate_thing", "invalid_schema" -> ConfigurationError(message, code)
        "bind_failed" -> BindError(message, details.string("address"))
        "not_found" -> NotFound(message, details.string("kind"), details.string("target"))
        "not_allowed" -> NotAllowed(message, details.string("affordance"), details.string("operation"))
        "bad_request" -> BadRequest(message)
        "handler_failed" -> HandlerFailed(message)
        "no_form" -> NoForm(message, details.string("operation"), details.string("affordance"))
        // A 404 or 400 answer is still a RemoteError (with its status); the code tells them apart.
        "remote_error", "remote_not_found", "remote_bad_request" -> {
            val status = (details["status"] as? JsonPrimitive)?.intOrNull
            val problem = details["problem"] as? JsonObject
            if (code == "remote_error" && (status == 401 || status == 403)) {
                AccessRefused(message, status, details.string("title"), details.string("detail"), problem)
            } else {
                RemoteError(message, status, details.string("title"), details.string("detail"), problem, code)
            }
        }
        "transport", "timeout" -> TransportError(message, code)
        "codec" -> CodecError(message)
        "action_failed" -> ActionFailed(message, details.string("title"), details["problem"] as? JsonObject)
        "action_cancelled" -> ActionCancelled(message)
        "action_finished" -> ActionFinished(message)
        "trace" -> TraceError(message)
        "closed" -> Closed(message)
        "directory_not_found" -> DirectoryNotFound(message, details.string("id"))
        "directory_invalid_td", "directory_bad_request", "directory_store", "directory_transport",
        "directory_status", "directory_config",
        -> DirectoryException(message, code, (details["status"] as? JsonPrimitive)?.intOrNull)
        "discovery_not_registrable", "discovery_mdns", "discovery_did_no_service", "discovery_did_endpoint",
        "discovery_did_fetch", "discovery_did_not_directory",
        -> DiscoveryException(message, code)
        else -> if (code.startsWith("identity_")) {
            IdentityException(message, code, details.string("did"), details.string("credentialType"), details.string("issuer"))
        } else {
            InternalLmosError(message, code)
        }
    }
}

/** Runs a native call, turning its error into an [LmosException]. */
internal inline fun <T> native(call: () -> T): T = try {
    call()
} catch (error: NativeException) {
    throw error.toLmos()
}

/** One way a payload breaks its schema: where ([path], a JSON pointer), which [rule], why. */
data class PayloadViolation(val path: String, val rule: String, val message: String) {
    internal companion object {
        fun from(element: JsonElement): PayloadViolation? {
            val o = element as? JsonObject ?: return null
            return PayloadViolation(o.string("path") ?: "", o.string("rule") ?: "", o.string("message") ?: "")
        }
    }
}

/** One problem of a [ValidationReport]. */
data class Problem(
    /** JSON pointer to the offending part ("" for the whole document). */
    val pointer: String,
    val message: String,
    /** Code of the rule that was broken. */
    val rule: String,
    /** `error` or `warning`. */
    val severity: String,
    val line: Int?,
    val column: Int?,
)

/** The result of [validate]: whether the document is valid, what it is, every problem. */
data class ValidationReport(
    val valid: Boolean,
    /** `ThingDescription`, `ThingModel` or null when the document is neither. */
    val kind: String?,
    val problems: List<Problem>,
    /** The report as the core wrote it. */
    val json: JsonObject,
) {
    /** The problems of severity `error`. */
    val errors: List<Problem> get() = problems.filter { it.severity == "error" }

    internal companion object {
        fun from(o: JsonObject): ValidationReport = ValidationReport(
            valid = (o["valid"] as? JsonPrimitive)?.content == "true",
            kind = o.string("kind"),
            problems = (o["problems"]?.let { if (it is JsonNull) null else it.jsonArray } ?: emptyList())
                .mapNotNull { it as? JsonObject }
                .map {
                    Problem(
                        pointer = it.string("pointer") ?: "",
                        message = it.string("message") ?: "",
                        rule = it.string("rule") ?: "",
                        severity = it.string("severity") ?: "error",
                        line = (it["line"] as? JsonPrimitive)?.intOrNull,
                        column = (it["column"] as? JsonPrimitive)?.intOrNull,
                    )
                },
            json = o,
        )
    }
}
