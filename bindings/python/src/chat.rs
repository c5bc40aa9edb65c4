//! The conversational convenience (`lmos::chat`) for Python: `chat(url, question)`,
//! `ConsumedThing.chat`/`ask`, the AgentRequest/AgentResult shapes and their schemas. Requests
//! and results cross as dicts; the core reads and writes them, so unknown members survive.

use std::future::Future;

use pyo3::prelude::*;
use serde_json::Value;

use lmos::chat::{AgentRequest, AgentResult, ChatError};
use lmos::thing::ConsumeOptions;

use crate::bridge::attach_alive;
use crate::consume::ConsumedThing;
use crate::convert::{to_json, to_py};
use crate::errors::{thing_error, Closed, InvalidInput, InvalidOutput};
use crate::serve::current_trace;

/// The Python exception for a chat error: the core error's class, `InvalidInput` for a request
/// that is not an AgentRequest, `InvalidOutput` for a result that is not an AgentResult or holds
/// no answer; `code` set as for every lmos error.
pub fn chat_error(py: Python<'_>, error: &ChatError) -> PyErr {
    let err = match error {
        ChatError::Thing(error) => return thing_error(py, error),
        ChatError::InvalidRequest(_) => InvalidInput::new_err(error.to_string()),
        ChatError::InvalidResult(_) | ChatError::NoAnswer => {
            InvalidOutput::new_err(error.to_string())
        }
    };
    let value = err.value(py);
    let _ = value.setattr("code", error.code());
    let _ = value.setattr("violations", pyo3::types::PyList::empty(py));
    err
}

fn to_pyerr(error: ChatError) -> PyErr {
    attach_alive(|py| chat_error(py, &error)).unwrap_or_else(|| Closed::new_err(error.to_string()))
}

/// Runs `future` as a Python awaitable inside the trace of the handler that awaits it (if any),
/// converting its value for Python.
fn awaitable<'py, F, T>(
    py: Python<'py>,
    future: F,
    convert: impl for<'a> FnOnce(Python<'a>, T) -> PyResult<Py<PyAny>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, ChatError>> + Send + 'static,
    T: Send + 'static,
{
    let trace = current_trace(py);
    crate::bridge::future_into_py(py, async move {
        let result = match trace {
            Some(trace) => lmos::trace::scope(trace, future).await,
            None => future.await,
        };
        let value = result.map_err(to_pyerr)?;
        attach_alive(|py| convert(py, value))
            .unwrap_or_else(|| Err(Closed::new_err("the Python interpreter is shutting down")))
    })
}

fn json_out(py: Python<'_>, value: Value) -> PyResult<Py<PyAny>> {
    Ok(to_py(py, &value)?.unbind())
}

fn text_out(py: Python<'_>, text: String) -> PyResult<Py<PyAny>> {
    Ok(text.into_pyobject(py)?.into_any().unbind())
}

/// A request from a question (`str`, a new conversation) or an AgentRequest dict.
fn request_from(request: &Bound<'_, PyAny>) -> PyResult<AgentRequest> {
    if let Ok(question) = request.extract::<String>() {
        return Ok(AgentRequest::from_text(question));
    }
    AgentRequest::from_value(to_json(request)?).map_err(|e| chat_error(request.py(), &e))
}

/// Consumes the agent whose TD is at `url`, asks `question` in a new conversation and returns
/// the text of the agent's first message (awaitable).
#[pyfunction]
#[pyo3(signature = (url, question, *, timeout=Some(30.0), credentials=None, extra_ca_pem=None))]
pub fn chat<'py>(
    py: Python<'py>,
    url: String,
    question: String,
    timeout: Option<f64>,
    credentials: Option<&Bound<'py, PyAny>>,
    extra_ca_pem: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let credentials = match credentials.filter(|c| !c.is_none()) {
        Some(credentials) => {
            let value = crate::security::credentials_json(credentials)?;
            Some(
                lmos::security::CredentialStore::from_json(&value)
                    .map_err(|e| crate::errors::security_error(py, &e))?,
            )
        }
        None => None,
    };
    let options = ConsumeOptions {
        credentials,
        extra_ca_pem,
        timeout: timeout
            .map(|t| {
                std::time::Duration::try_from_secs_f64(t).map_err(|_| {
                    pyo3::exceptions::PyValueError::new_err(
                        "timeout must be a non-negative number of seconds",
                    )
                })
            })
            .transpose()?,
        ..ConsumeOptions::default()
    };
    awaitable(
        py,
        async move { lmos::chat::chat_with_options(&url, &question, options).await },
        text_out,
    )
}

/// Invokes the `chat` action of `thing` with `request` (a question or an AgentRequest dict);
/// the AgentResult as a dict (awaitable).
#[pyfunction]
pub fn chat_request<'py>(
    thing: &Bound<'py, ConsumedThing>,
    request: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let request = request_from(request)?;
    let inner = thing.get().inner.clone();
    awaitable(
        thing.py(),
        async move { inner.chat(request).await.map(|r| r.to_value()) },
        json_out,
    )
}

/// Asks `thing` a question in a new conversation; the text of the agent's first message
/// (awaitable).
#[pyfunction]
pub fn ask<'py>(
    thing: &Bound<'py, ConsumedThing>,
    question: String,
) -> PyResult<Bound<'py, PyAny>> {
    let inner = thing.get().inner.clone();
    awaitable(
        thing.py(),
        async move { inner.ask(&question).await },
        text_out,
    )
}

/// An AgentRequest dict that opens a new conversation with one user message.
#[pyfunction]
pub fn agent_request(py: Python<'_>, question: String) -> PyResult<Bound<'_, PyAny>> {
    to_py(py, &AgentRequest::from_text(question).to_value())
}

/// An AgentResult dict: a successful result with one text message from the agent.
#[pyfunction]
pub fn agent_result(py: Python<'_>, answer: String) -> PyResult<Bound<'_, PyAny>> {
    to_py(py, &AgentResult::text(answer).to_value())
}

/// The text of the agent's first message in an AgentResult dict, or `None`.
#[pyfunction]
pub fn first_text(result: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    let result =
        AgentResult::from_value(to_json(result)?).map_err(|e| chat_error(result.py(), &e))?;
    Ok(result.first_text().map(str::to_owned))
}

/// The JSON Schema of an AgentRequest.
#[pyfunction]
pub fn agent_request_schema(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    to_py(py, &lmos::chat::agent_request_schema().to_value())
}

/// The JSON Schema of an AgentResult.
#[pyfunction]
pub fn agent_result_schema(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    to_py(py, &lmos::chat::agent_result_schema().to_value())
}

/// Registers the chat functions on the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(chat, m)?)?;
    m.add_function(wrap_pyfunction!(chat_request, m)?)?;
    m.add_function(wrap_pyfunction!(ask, m)?)?;
    m.add_function(wrap_pyfunction!(agent_request, m)?)?;
    m.add_function(wrap_pyfunction!(agent_result, m)?)?;
    m.add_function(wrap_pyfunction!(first_text, m)?)?;
    m.add_function(wrap_pyfunction!(agent_request_schema, m)?)?;
    m.add_function(wrap_pyfunction!(agent_result_schema, m)?)?;
    m.add("CHAT_ACTION", lmos::chat::CHAT_ACTION)?;
    Ok(())
}
