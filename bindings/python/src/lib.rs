//! The native module behind the `lmos` Python package. It converts values, maps errors and
//! bridges async; every piece of protocol logic lives in the `lmos` crate.

mod bridge;
mod chat;
mod consume;
mod convert;
mod discovery;
mod errors;
mod identity;
mod runtime;
mod security;
mod serve;
mod td;
mod trace;

use pyo3::prelude::*;

/// The `lmos._native` module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    runtime::configure();
    errors::register(m)?;
    td::register(m)?;
    chat::register(m)?;
    discovery::register(m)?;
    identity::register(m)?;
    trace::register(m)?;
    m.add_class::<serve::Servient>()?;
    m.add_class::<serve::ExposedThing>()?;
    m.add_class::<serve::HandlerContext>()?;
    m.add_class::<serve::UpdateSink>()?;
    m.add_class::<consume::ConsumedThing>()?;
    m.add_class::<consume::ActionHandle>()?;
    m.add_class::<consume::ValueIterator>()?;
    m.add_class::<consume::UpdateIterator>()?;
    m.add("current_context_var", serve::context_var(py)?.clone_ref(py))?;
    let mark_exiting = wrap_pyfunction!(bridge::_mark_exiting, m)?;
    py.import("atexit")?
        .call_method1("register", (mark_exiting,))?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
