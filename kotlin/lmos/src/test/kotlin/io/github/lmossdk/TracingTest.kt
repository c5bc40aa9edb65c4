package io.github.lmossdk

import com.sun.net.httpserver.HttpServer
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.net.InetSocketAddress
import java.util.concurrent.CopyOnWriteArrayList

class TracingTest {
    @Test
    fun `spans of both sides reach an OTLP receiver and share one trace`() = test {
        // The receiving side of OTLP/HTTP (JSON), as a collector runs it, on a loopback port.
        val bodies = CopyOnWriteArrayList<String>()
        val receiver = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
        receiver.createContext("/v1/traces") { exchange ->
            bodies.add(exchange.requestBody.readBytes().decodeToString())
            val answer = "{}".toByteArray()
            exchange.sendResponseHeaders(200, answer.size.toLong())
            exchange.responseBody.use { it.write(answer) }
        }
        receiver.start()
        try {
            Tracing.exportTraces("http://127.0.0.1:${receiver.address.port}/v1/traces", "kotlin-test")
            Servient(httpPort = 0).serve {
                val exposed = expose(tool("Traced") {
                    id = "urn:test:traced"
                    property("value", numberSchema())
                })
                exposed.setProperty("value", JsonPrimitive(1))
                assertEquals(JsonPrimitive(1), consume(exposed.tdUrl!!).readProperty("value"))
            }
            assertTrue(Tracing.flush())
        } finally {
            receiver.stop(0)
        }
        val spans: List<JsonObject> = bodies.flatMap { body ->
            Json.parseToJsonElement(body).jsonObject.getValue("resourceSpans").jsonArray.flatMap { resource ->
                resource.jsonObject.getValue("scopeSpans").jsonArray.flatMap { scope ->
                    scope.jsonObject.getValue("spans").jsonArray.map { it.jsonObject }
                }
            }
        }
        val handled = spans.first { it["kind"] == JsonPrimitive(2) && it.getValue("name").jsonPrimitive.content == "readproperty value" }
        val request = spans.first { it["spanId"] == handled["parentSpanId"] }
        assertEquals(JsonPrimitive(3), request["kind"], "$request")
        assertEquals(request["traceId"], handled["traceId"])
        assertTrue(request.getValue("name").jsonPrimitive.content.startsWith("GET "), "$request")
    }
}
