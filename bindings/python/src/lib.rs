//! The native module behind the `lmos` Python package. It converts values, maps errors and
//! bridges async; every piece of protocol logic lives in the `lmos` crate.

mod convert;
mod errors;
mod td;

use pyo3::prelude::*;

/// The `lmos._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    td::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
