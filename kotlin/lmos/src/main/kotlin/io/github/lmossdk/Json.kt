package io.github.lmossdk

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive

// JSON crosses the native boundary as text; these turn it into JsonElements and back.

internal fun parseJson(text: String): JsonElement = Json.parseToJsonElement(text)

internal fun JsonElement?.toText(): String = (this ?: JsonNull).toString()

internal fun parseObject(text: String, what: String): JsonObject =
    parseJson(text) as? JsonObject ?: throw CodecError("$what is not a JSON object: $text")

/** Converts plain Kotlin values (null, Boolean, Number, String, Map, List, JsonElement) to JSON. */
fun toJsonElement(value: Any?): JsonElement = when (value) {
    null -> JsonNull
    is JsonElement -> value
    is Boolean -> JsonPrimitive(value)
    is Number -> JsonPrimitive(value)
    is String -> JsonPrimitive(value)
    is Map<*, *> -> JsonObject(value.entries.associate { (k, v) -> k.toString() to toJsonElement(v) })
    is Iterable<*> -> JsonArray(value.map { toJsonElement(it) })
    is Array<*> -> JsonArray(value.map { toJsonElement(it) })
    else -> throw IllegalArgumentException("not a JSON value: ${value::class.qualifiedName}")
}

/** A JSON object from pairs of plain Kotlin values: `jsonObjectOf("city" to "Bonn", "days" to 3)`. */
fun jsonObjectOf(vararg members: Pair<String, Any?>): JsonObject =
    JsonObject(members.associate { (k, v) -> k to toJsonElement(v) })
