package io.github.lmossdk

import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * Tracing: every interaction is a span on each side, and the W3C trace context crosses HTTP
 * headers and WebSocket messages. Spans are exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT`
 * (and `OTEL_SERVICE_NAME`) are set, or after [exportTraces].
 */
object Tracing {
    /** Exports spans to the OTLP/HTTP traces URL [url] (e.g. `http://127.0.0.1:4318/v1/traces`). */
    fun exportTraces(url: String, serviceName: String) = native { io.github.lmossdk.ffi.exportTraces(url, serviceName) }

    /** Waits up to [timeout] until the spans that ended so far are exported; true when they were. */
    suspend fun flush(timeout: Duration = 5.seconds): Boolean =
        call { io.github.lmossdk.ffi.flushTraces(timeout.inWholeMilliseconds.toULong()) }
}
