//! The `lmos.LmosError` exception hierarchy and the mapping of core errors onto it.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use lmos::td::payload::PayloadError;
use lmos::td::validate::ValidationReport;

use crate::convert::to_py;

create_exception!(_native, LmosError, PyException, "Base class of every error lmos raises.");
create_exception!(
    _native,
    InvalidThingDescription,
    LmosError,
    "A Thing Description is not valid; `report` holds every problem."
);
create_exception!(
    _native,
    InvalidPayload,
    LmosError,
    "A value does not match its data schema; `violations` lists every broken rule."
);

/// Registers the exception classes on the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("LmosError", py.get_type::<LmosError>())?;
    m.add("InvalidThingDescription", py.get_type::<InvalidThingDescription>())?;
    m.add("InvalidPayload", py.get_type::<InvalidPayload>())?;
    Ok(())
}

/// `InvalidThingDescription` carrying the report as a dict in its `report` attribute.
pub fn invalid_td(py: Python<'_>, report: &ValidationReport) -> PyErr {
    let err = InvalidThingDescription::new_err(report.to_string());
    if let Ok(report) = to_py(py, &report.to_json()) {
        let _ = err.value(py).setattr("report", report);
    }
    err
}

/// `InvalidPayload` (with `violations`) or, for an unusable schema, `LmosError`.
pub fn payload_error(py: Python<'_>, error: &PayloadError) -> PyErr {
    match error {
        PayloadError::Invalid(violations) => {
            let err = InvalidPayload::new_err(error.to_string());
            let list: Vec<serde_json::Value> = violations
                .iter()
                .map(|v| serde_json::json!({"path": v.path, "rule": v.rule, "message": v.message}))
                .collect();
            if let Ok(list) = to_py(py, &serde_json::Value::Array(list)) {
                let _ = err.value(py).setattr("violations", list);
            }
            err
        }
        PayloadError::Schema(_) => LmosError::new_err(error.to_string()),
    }
}
