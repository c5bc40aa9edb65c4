//! Running Python coroutines from Rust tasks: a handler's coroutine becomes a task on the asyncio
//! event loop the servient was started on, and the Rust side awaits it like a future. Dropping
//! that future cancels the task (the handler sees `asyncio.CancelledError`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};

use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use tokio::sync::oneshot;

/// The asyncio event loop that Python handlers of one servient run on; captured when the servient
/// starts (or when a handler is registered inside a running loop).
#[derive(Clone, Default)]
pub struct EventLoop(Arc<RwLock<Option<Py<PyAny>>>>);

impl EventLoop {
    /// Captures the running loop of the calling thread, if there is one.
    pub fn capture_running(&self, py: Python<'_>) -> PyResult<bool> {
        let asyncio = py.import("asyncio")?;
        let running = asyncio.call_method0("_get_running_loop")?;
        if running.is_none() {
            return Ok(false);
        }
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(running.unbind());
        Ok(true)
    }

    /// The captured loop.
    pub fn get(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|l| l.clone_ref(py))
            .ok_or_else(|| {
                PyRuntimeError::new_err(
                    "no asyncio event loop to run the handler on: start the servient inside one",
                )
            })
    }
}

/// A Python coroutine running as a task on an event loop. Awaiting it gives the coroutine's
/// result; dropping it before then cancels the task.
pub struct PyTask {
    result: oneshot::Receiver<PyResult<Py<PyAny>>>,
    future: Option<Py<PyAny>>,
}

impl PyTask {
    /// Schedules `coroutine` on `event_loop` (thread-safe).
    pub fn spawn(event_loop: &Bound<'_, PyAny>, coroutine: Bound<'_, PyAny>) -> PyResult<Self> {
        let py = event_loop.py();
        let future = py
            .import("asyncio")?
            .call_method1("run_coroutine_threadsafe", (coroutine, event_loop))?;
        let (tx, rx) = oneshot::channel();
        future.call_method1(
            "add_done_callback",
            (TaskDone {
                sender: Mutex::new(Some(tx)),
            },),
        )?;
        Ok(PyTask {
            result: rx,
            future: Some(future.unbind()),
        })
    }
}

impl Future for PyTask {
    type Output = PyResult<Py<PyAny>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.result).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                self.future = None;
                Poll::Ready(
                    result.unwrap_or_else(|_| {
                        Err(PyRuntimeError::new_err("the handler task vanished"))
                    }),
                )
            }
        }
    }
}

impl Drop for PyTask {
    fn drop(&mut self) {
        if let Some(future) = self.future.take() {
            Python::attach(|py| {
                // `cancel` on the concurrent future cancels the asyncio task on its loop.
                let _ = future.call_method0(py, "cancel");
            });
        }
    }
}

/// Done-callback of a scheduled task: hands its outcome to the waiting [`PyTask`].
#[pyclass(module = "lmos._native")]
struct TaskDone {
    sender: Mutex<Option<oneshot::Sender<PyResult<Py<PyAny>>>>>,
}

#[pymethods]
impl TaskDone {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        let outcome = if future.call_method0("cancelled")?.is_truthy()? {
            Err(cancelled_error(future.py()))
        } else {
            future.call_method0("result").map(Bound::unbind)
        };
        if let Some(sender) = self.sender.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = sender.send(outcome);
        }
        Ok(())
    }
}

/// An `asyncio.CancelledError`.
pub fn cancelled_error(py: Python<'_>) -> PyErr {
    match py
        .import("asyncio")
        .and_then(|m| m.getattr("CancelledError"))
        .and_then(|c| c.call0())
    {
        Ok(value) => PyErr::from_value(value),
        Err(err) => err,
    }
}

/// Whether `err` is an `asyncio.CancelledError`.
pub fn is_cancelled(py: Python<'_>, err: &PyErr) -> bool {
    py.import("asyncio")
        .and_then(|m| m.getattr("CancelledError"))
        .map(|class| err.value(py).is_instance(&class).unwrap_or(false))
        .unwrap_or(false)
}

/// `StopAsyncIteration`, the end of an `async for`.
pub fn stop_iteration() -> PyErr {
    PyStopAsyncIteration::new_err(())
}

static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn logger(py: Python<'_>) -> Option<&Py<PyAny>> {
    LOGGER
        .get_or_try_init(py, || {
            py.import("logging")?
                .call_method1("getLogger", ("lmos",))
                .map(Bound::unbind)
        })
        .ok()
}

/// Logs `message` on the `lmos` logger at ERROR level.
pub fn log_error(py: Python<'_>, message: &str) {
    if let Some(logger) = logger(py) {
        let _ = logger.call_method1(py, "error", ("%s", message));
    }
}

/// Logs `err` with its traceback through Python's `logging` (logger `lmos`), at ERROR level.
pub fn log_exception(py: Python<'_>, what: &str, err: &PyErr) {
    let Some(logger) = logger(py) else {
        return;
    };
    let kwargs = PyDict::new(py);
    if kwargs.set_item("exc_info", err.value(py)).is_err() {
        return;
    }
    let _ = logger.call_method(py, "error", ("%s raised an exception", what), Some(&kwargs));
}
