//! Span export: `lmos.export_traces` and `lmos.flush_traces` (the core's `lmos::trace`).

use std::time::Duration;

use pyo3::prelude::*;

use crate::errors::ConfigurationError;

/// Exports the spans of every interaction to the OTLP/HTTP traces URL `url` as `service_name`
/// (instead of what the `OTEL_*` environment variables say).
#[pyfunction]
fn export_traces(url: &str, service_name: &str) -> PyResult<()> {
    lmos::trace::export_otlp(url, service_name)
        .map_err(|e| ConfigurationError::new_err(e.to_string()))
}

/// Waits up to `timeout` seconds until every span that ended so far is exported; `True` when
/// it was (also when nothing is exported). Runs at interpreter exit too.
#[pyfunction]
#[pyo3(signature = (timeout=5.0))]
fn flush_traces(py: Python<'_>, timeout: f64) -> PyResult<bool> {
    let timeout = Duration::try_from_secs_f64(timeout).map_err(|_| {
        pyo3::exceptions::PyValueError::new_err("timeout must be a non-negative number")
    })?;
    Ok(py.detach(|| lmos::trace::flush(timeout)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(export_traces, m)?)?;
    let flush = wrap_pyfunction!(flush_traces, m)?;
    m.add_function(flush.clone())?;
    // Spans of a short-lived script are sent before the interpreter goes away.
    m.py()
        .import("atexit")?
        .call_method1("register", (flush,))?;
    Ok(())
}
