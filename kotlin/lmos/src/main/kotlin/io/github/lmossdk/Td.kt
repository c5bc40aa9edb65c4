package io.github.lmossdk

import io.github.lmossdk.ffi.NativeThingBuilder
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive

/** Validates a TD given as a JSON value. */
fun validate(td: JsonElement): ValidationReport =
    ValidationReport.from(parseObject(native { io.github.lmossdk.ffi.validate(td.toText(), false) }, "the report"))

/** Validates a TD given as JSON text; its problems carry line and column. */
fun validate(text: String): ValidationReport =
    ValidationReport.from(parseObject(native { io.github.lmossdk.ffi.validate(text, true) }, "the report"))

/** Parses and validates a TD; throws [InvalidThingDescription] with the report. */
fun parseTd(text: String): JsonObject = parseObject(native { io.github.lmossdk.ffi.parseTd(text) }, "the TD")

/** Validates a TD value; throws [InvalidThingDescription] with the report. */
fun parseTd(td: JsonElement): JsonObject = parseTd(td.toText())

/** Checks a value against a data schema; throws [InvalidPayload] listing every violation. */
fun checkPayload(schema: JsonElement, value: JsonElement) {
    native { io.github.lmossdk.ffi.checkPayload(schema.toText(), value.toText()) }
}

/** Marks the builder DSL of lmos (keeps nested builders from reaching outer ones). */
@DslMarker
annotation class LmosDsl

/** Builds a JSON object member by member. */
@LmosDsl
open class JsonObjectBuilder {
    internal val members = LinkedHashMap<String, JsonElement>()

    /** Sets any member (extension vocabularies, keywords without a property here). */
    operator fun set(name: String, value: JsonElement?) {
        if (value == null) members.remove(name) else members[name] = value
    }

    /** Sets any member from a plain Kotlin value. */
    fun member(name: String, value: Any?) = set(name, toJsonElement(value))

    internal fun string(name: String, value: String?) = set(name, value?.let { JsonPrimitive(it) })
    internal fun bool(name: String, value: Boolean?) = set(name, value?.let { JsonPrimitive(it) })
    internal fun number(name: String, value: Number?) = set(name, value?.let { JsonPrimitive(it) })
    internal fun getString(name: String): String? = (members[name] as? JsonPrimitive)?.content
    internal fun getBool(name: String): Boolean? = (members[name] as? JsonPrimitive)?.content?.toBooleanStrictOrNull()

    /** The object built so far. */
    fun build(): JsonObject = JsonObject(LinkedHashMap(members))
}

/** Builds a JSON-Schema data schema (the TD's DataSchema). */
class SchemaBuilder internal constructor(type: String?) : JsonObjectBuilder() {
    init {
        string("type", type)
    }

    var description: String?
        get() = getString("description")
        set(value) = string("description", value)
    var title: String?
        get() = getString("title")
        set(value) = string("title", value)
    var minimum: Number? = null
        set(value) { field = value; number("minimum", value) }
    var maximum: Number? = null
        set(value) { field = value; number("maximum", value) }
    var minLength: Int? = null
        set(value) { field = value; number("minLength", value) }
    var maxLength: Int? = null
        set(value) { field = value; number("maxLength", value) }
    var pattern: String?
        get() = getString("pattern")
        set(value) = string("pattern", value)
    var format: String?
        get() = getString("format")
        set(value) = string("format", value)
    var unit: String?
        get() = getString("unit")
        set(value) = string("unit", value)
    var readOnly: Boolean?
        get() = getBool("readOnly")
        set(value) = bool("readOnly", value)
    var writeOnly: Boolean?
        get() = getBool("writeOnly")
        set(value) = bool("writeOnly", value)

    private val properties = LinkedHashMap<String, JsonElement>()
    private val required = mutableListOf<String>()

    /** The allowed values (`enum`). */
    fun enum(vararg values: Any?) = set("enum", JsonArray(values.map { toJsonElement(it) }))

    /** The schema of an array's items. */
    fun items(schema: JsonObject) = set("items", schema)

    /** A member of an object schema; [required] adds it to `required`. */
    fun property(name: String, schema: JsonObject, required: Boolean = false) {
        properties[name] = schema
        set("properties", JsonObject(LinkedHashMap(properties)))
        if (required && name !in this.required) {
            this.required += name
            set("required", JsonArray(this.required.map { JsonPrimitive(it) }))
        }
    }

    /** Names the required members of an object schema. */
    fun required(vararg names: String) {
        names.filter { it !in required }.forEach { required += it }
        set("required", JsonArray(required.map { JsonPrimitive(it) }))
    }
}

/** A data schema of [type] (`object`, `string`, `integer`, ...), or without a type. */
fun schema(type: String? = null, block: SchemaBuilder.() -> Unit = {}): JsonObject =
    SchemaBuilder(type).apply(block).build()

/** `{"type": "string"}`, with an optional description. */
fun stringSchema(description: String? = null): JsonObject = schema("string") { this.description = description }

/** `{"type": "integer"}` with optional bounds. */
fun integerSchema(minimum: Long? = null, maximum: Long? = null): JsonObject = schema("integer") {
    this.minimum = minimum
    this.maximum = maximum
}

/** `{"type": "number"}` with optional bounds. */
fun numberSchema(minimum: Number? = null, maximum: Number? = null): JsonObject = schema("number") {
    this.minimum = minimum
    this.maximum = maximum
}

/** `{"type": "boolean"}`. */
fun booleanSchema(): JsonObject = schema("boolean")

/** An object schema built with [block]. */
fun objectSchema(block: SchemaBuilder.() -> Unit): JsonObject = schema("object", block)

/** An array schema of [items]. */
fun arraySchema(items: JsonObject, block: SchemaBuilder.() -> Unit = {}): JsonObject = schema("array") {
    items(items)
    block()
}

/** The members every interaction affordance has. */
abstract class AffordanceBuilder internal constructor() : JsonObjectBuilder() {
    /**
     * Declares a URI variable: callers pass its value with `uriVariables` (checked against
     * [schema]); over HTTP it is sent in the query string (`{?name}`); handlers read it from
     * `context.uriVariables`.
     */
    fun uriVariable(name: String, schema: JsonObject) {
        val declared = members["uriVariables"] as? JsonObject ?: JsonObject(emptyMap())
        set("uriVariables", JsonObject(declared + (name to schema)))
    }
}

/** The members of an action affordance (TD spelling). */
class ActionBuilder internal constructor() : AffordanceBuilder() {
    var title: String?
        get() = getString("title")
        set(value) = string("title", value)
    var description: String?
        get() = getString("description")
        set(value) = string("description", value)
    var input: JsonObject?
        get() = members["input"] as? JsonObject
        set(value) = set("input", value)
    var output: JsonObject?
        get() = members["output"] as? JsonObject
        set(value) = set("output", value)

    /** `false`: the action answers with a status resource (query, cancel). */
    var synchronous: Boolean?
        get() = getBool("synchronous")
        set(value) = bool("synchronous", value)
    var safe: Boolean?
        get() = getBool("safe")
        set(value) = bool("safe", value)
    var idempotent: Boolean?
        get() = getBool("idempotent")
        set(value) = bool("idempotent", value)
}

/** The members of an event affordance (TD spelling). */
class EventBuilder internal constructor() : AffordanceBuilder() {
    var title: String?
        get() = getString("title")
        set(value) = string("title", value)
    var description: String?
        get() = getString("description")
        set(value) = string("description", value)
    var data: JsonObject?
        get() = members["data"] as? JsonObject
        set(value) = set("data", value)
}

/** Options of a property affordance beyond its schema. */
class PropertyBuilder internal constructor() : AffordanceBuilder() {
    var observable: Boolean?
        get() = getBool("observable")
        set(value) = bool("observable", value)
    var readOnly: Boolean?
        get() = getBool("readOnly")
        set(value) = bool("readOnly", value)
    var writeOnly: Boolean?
        get() = getBool("writeOnly")
        set(value) = bool("writeOnly", value)
    var title: String?
        get() = getString("title")
        set(value) = string("title", value)
    var description: String?
        get() = getString("description")
        set(value) = string("description", value)
}

/**
 * Builds an `lmos:Agent`, `lmos:Tool` or plain Thing Description with the core's builder (which
 * adds `@context`, `@type` and the security defaults). Forms are added by the servient.
 */
@LmosDsl
class ThingBuilder internal constructor(kind: String, title: String) {
    private val native = native { NativeThingBuilder(kind, title) }

    /** Sets `id`. */
    var id: String? = null
        set(value) { field = value; value?.let { native { this.native.id(it) } } }

    /** Sets `description`. */
    var description: String? = null
        set(value) { field = value; value?.let { native { this.native.description(it) } } }

    /** Sets `base`. */
    var base: String? = null
        set(value) { field = value; value?.let { native { this.native.base(it) } } }

    /** Sets `version.instance`. */
    var version: String? = null
        set(value) { field = value; value?.let { native { this.native.version(it) } } }

    /** Vendor metadata (`lmos:metadata`). */
    fun vendor(name: String, url: String? = null) = native { native.vendor(name, url) }

    /** Adds a semantic type (`@type`). */
    fun type(semanticType: String) = native { native.addType(semanticType) }

    /** Adds a top-level member from an extension vocabulary. */
    fun member(name: String, value: JsonElement) = native { native.member(name, value.toText()) }

    /** Adds a property: its data [schema] plus the options set in [block]. */
    fun property(name: String, schema: JsonObject, block: PropertyBuilder.() -> Unit = {}) {
        val affordance = JsonObject(schema + PropertyBuilder().apply(block).build())
        native { native.property(name, affordance.toText()) }
    }

    /** Adds an action. */
    fun action(name: String, block: ActionBuilder.() -> Unit = {}) =
        native { native.action(name, ActionBuilder().apply(block).build().toText()) }

    /** Adds the conversational `chat` action: synchronous, an AgentRequest in, an AgentResult out. */
    fun chatAction() = native { native.chatAction() }

    /** Adds an event. */
    fun event(name: String, block: EventBuilder.() -> Unit = {}) =
        native { native.event(name, EventBuilder().apply(block).build().toText()) }

    /** Adds a thing-level form. */
    fun form(form: JsonObject) = native { native.form(form.toText()) }

    /** Adds a link. */
    fun link(href: String, rel: String? = null, type: String? = null, hreflang: String? = null) {
        val link = buildMap<String, Any?> {
            put("href", href)
            rel?.let { put("rel", it) }
            type?.let { put("type", it) }
            hreflang?.let { put("hreflang", it) }
        }
        native { native.link(toJsonElement(link).toText()) }
    }

    /** Adds a security definition that applies to the thing. */
    fun security(name: String, scheme: JsonObject) = native { native.security(name, scheme.toText()) }

    internal fun build(): JsonObject = try {
        parseObject(native { native.build() }, "the TD")
    } finally {
        native.destroy()
    }
}

/** The description of an `lmos:Agent` titled [title], built with [block]. */
fun agent(title: String, block: ThingBuilder.() -> Unit = {}): JsonObject =
    ThingBuilder("agent", title).apply(block).build()

/** The description of an `lmos:Tool` titled [title], built with [block]. */
fun tool(title: String, block: ThingBuilder.() -> Unit = {}): JsonObject =
    ThingBuilder("tool", title).apply(block).build()

/** The description of a plain Thing titled [title], built with [block]. */
fun thing(title: String, block: ThingBuilder.() -> Unit = {}): JsonObject =
    ThingBuilder("thing", title).apply(block).build()
