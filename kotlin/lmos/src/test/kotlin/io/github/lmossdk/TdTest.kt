package io.github.lmossdk

import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class TdTest {
    private fun weatherTd(): JsonObject = agent("Weather") {
        description = "Answers weather questions."
        vendor("ACME", "https://acme.example")
        property("unit", schema("string") { enum("C", "F") }) { observable = true }
        action("ask") {
            input = schema("string")
            output = schema("string")
        }
        event("alert") { data = schema("string") }
    }

    @Test
    fun `the builder makes an lmos Agent description`() {
        val td = weatherTd()
        assertEquals(JsonPrimitive("Weather"), td["title"])
        assertTrue(td["@type"].toString().contains("lmos:Agent"), td["@type"].toString())
        assertEquals(setOf("unit"), td["properties"]!!.jsonObject.keys)
        assertEquals(JsonPrimitive(true), td["properties"]!!.jsonObject["unit"]!!.jsonObject["observable"])
        assertEquals(jsonObjectOf("type" to "string"), td["actions"]!!.jsonObject["ask"]!!.jsonObject["input"])
        assertEquals(setOf("alert"), td["events"]!!.jsonObject.keys)
        assertTrue(td.toString().contains("ACME"))
        // Forms come from the servient: until then the description lacks them.
        assertTrue(validate(td).problems.all { it.pointer.endsWith("/forms") }, validate(td).toString())
    }

    @Test
    fun `tools things links security members and chat actions`() {
        val td = tool("Geocoder") {
            id = "urn:example:geocoder"
            version = "1.2.0"
            type("schema:Service")
            member("schema:provider", JsonPrimitive("ACME"))
            link("https://acme.example/doc", rel = "service-doc", type = "text/html")
            chatAction()
        }
        assertTrue(td["@type"].toString().contains("lmos:Tool"))
        assertTrue(td["@type"].toString().contains("schema:Service"))
        assertEquals(JsonPrimitive("urn:example:geocoder"), td["id"])
        assertEquals("https://acme.example/doc", (td["links"] as JsonArray)[0].str("href"))
        assertEquals(chatAffordance(), td["actions"]!!.jsonObject["chat"])
        assertNotNull(thing("Lamp")["title"])
        val secured = thing("Vault") { security("basic_sc", jsonObjectOf("scheme" to "basic", "in" to "header")) }
        assertTrue(secured["securityDefinitions"]!!.jsonObject.containsKey("basic_sc"), secured.toString())
    }

    @Test
    fun `builder errors are lmos exceptions`() {
        val error = assertThrows<InternalLmosError> {
            agent("Bad") { action("x") { input = jsonObjectOf("type" to 42) } }
        }
        assertEquals("type_error", error.code)
    }

    @Test
    fun `validate reports every problem of a bad TD`() {
        val report = validate(jsonObjectOf("title" to 42))
        assertFalse(report.valid)
        assertTrue(report.problems.isNotEmpty(), report.toString())
        val fromText = validate("{\n  \"title\": 42\n}")
        assertFalse(fromText.valid)
        assertTrue(fromText.problems.any { it.line != null }, fromText.toString())
        assertTrue(validate("not json").problems.isNotEmpty())
    }

    @Test
    fun `parseTd throws with the report`() {
        val error = assertThrows<InvalidThingDescription> { parseTd("{\"title\": \"no context\"}") }
        assertFalse(error.report!!.valid)
        assertEquals("invalid_td", error.code)
    }

    @Test
    fun `parseTd accepts a served TD`() {
        val td = jsonObjectOf(
            "@context" to "https://www.w3.org/2022/wot/td/v1.1",
            "title" to "Lamp",
            "securityDefinitions" to mapOf("nosec" to mapOf("scheme" to "nosec")),
            "security" to "nosec",
            "properties" to mapOf("on" to mapOf("type" to "boolean", "forms" to listOf(mapOf("href" to "http://127.0.0.1:1/lamp/on")))),
        )
        assertEquals(JsonPrimitive("Lamp"), parseTd(td.toString())["title"])
        assertEquals(JsonPrimitive("Lamp"), parseTd(td)["title"])
    }

    @Test
    fun `checkPayload lists violations`() {
        val schema = objectSchema { property("days", integerSchema(maximum = 7)) }
        checkPayload(schema, jsonObjectOf("days" to 3))
        val error = assertThrows<InvalidPayload> { checkPayload(schema, jsonObjectOf("days" to 9)) }
        assertEquals("/days", error.violations[0].path)
        assertEquals("invalid_payload", error.code)
        assertThrows<ConfigurationError> { checkPayload(jsonObjectOf("type" to 42), JsonPrimitive(1)) }
    }

    @Test
    fun `values that are not JSON are refused before they cross`() {
        assertThrows<IllegalArgumentException> { toJsonElement(Any()) }
    }
}
