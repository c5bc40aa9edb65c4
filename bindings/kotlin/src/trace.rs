//! Span export: `exportTraces` and `flushTraces` (the core's `lmos::trace`).

use std::time::Duration;

use crate::errors::NativeError;
use crate::runtime::run;

/// Exports the span of every interaction to the OTLP/HTTP traces URL `url` as `service_name`.
#[uniffi::export]
pub fn export_traces(url: String, service_name: String) -> Result<(), NativeError> {
    lmos::trace::export_otlp(&url, &service_name)
        .map_err(|e| NativeError::new("invalid_config", e.to_string()))
}

/// Waits up to `timeout_ms` until every span that ended so far is exported; `true` when it was.
#[uniffi::export]
pub async fn flush_traces(timeout_ms: u64) -> Result<bool, NativeError> {
    run(async move { Ok(lmos::trace::flush_async(Duration::from_millis(timeout_ms)).await) }).await
}
