//! Span export: `exportTraces` and `flushTraces` (the core's `lmos::trace`).

use std::time::Duration;

use napi::Result;
use napi_derive::napi;
use serde_json::json;

use crate::errors::encoded;

/// Exports the spans of every interaction to the OTLP/HTTP traces URL `url` as `service_name`.
#[napi]
pub fn export_traces(url: String, service_name: String) -> Result<()> {
    lmos::trace::export_otlp(&url, &service_name)
        .map_err(|e| encoded("invalid_config", &e.to_string(), json!({})))
}

/// Resolves once every span that ended so far is exported (`true`), or after `timeout_ms`
/// (`false`); `true` at once when nothing is exported.
#[napi]
pub async fn flush_traces(timeout_ms: u32) -> bool {
    lmos::trace::flush_async(Duration::from_millis(u64::from(timeout_ms))).await
}
