//! Running Python coroutines from Rust tasks: a handler's coroutine becomes a task on the asyncio
//! event loop the servient was started on, and the Rust side awaits it like a future. Dropping
//! that future cancels the task (the handler sees `asyncio.CancelledError`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};

use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use tokio::sync::oneshot;

/// Set by an `atexit` hook: the interpreter is shutting down, and threads of the Tokio runtime
/// must not attach to it any more (on CPython < 3.13 a thread that attaches during finalization
/// is ended with `pthread_exit`, which aborts the process).
static EXITING: AtomicBool = AtomicBool::new(false);
/// Threads inside [`attach_alive`] right now.
static ATTACHING: AtomicUsize = AtomicUsize::new(0);

/// Marks the interpreter as exiting (registered with `atexit` when the module loads), then lets
/// the threads that are already attaching finish before finalization goes on.
#[pyfunction]
pub fn _mark_exiting(py: Python<'_>) {
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while ATTACHING.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
}

/// Runs `f` attached to the interpreter, unless it is shutting down.
pub fn attach_alive<F, R>(f: F) -> Option<R>
where
    F: for<'py> FnOnce(Python<'py>) -> R,
{
    ATTACHING.fetch_add(1, Ordering::SeqCst);
    let result = if EXITING.load(Ordering::SeqCst) {
        None
    } else {
        Python::try_attach(f)
    };
    ATTACHING.fetch_sub(1, Ordering::SeqCst);
    result
}

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
    /// Shared with the [`TaskStart`] callback; `None` once the result has arrived.
    state: Option<Arc<Mutex<StartState>>>,
    event_loop: Py<PyAny>,
}

/// Where a scheduled coroutine is: not yet started (it may be cancelled before it runs), or
/// running as this task.
#[derive(Default)]
struct StartState {
    task: Option<Py<PyAny>>,
    cancelled: bool,
}

impl PyTask {
    /// Schedules `coroutine` on `event_loop` (thread-safe): one `call_soon_threadsafe` that
    /// creates the task on the loop's thread.
    pub fn spawn(event_loop: &Bound<'_, PyAny>, coroutine: Bound<'_, PyAny>) -> PyResult<Self> {
        let (tx, rx) = oneshot::channel();
        let state = Arc::new(Mutex::new(StartState::default()));
        let start = TaskStart {
            coroutine: Mutex::new(Some(coroutine.unbind())),
            done: Mutex::new(Some(TaskDone {
                sender: Mutex::new(Some(tx)),
            })),
            state: state.clone(),
        };
        event_loop.call_method1("call_soon_threadsafe", (start,))?;
        Ok(PyTask {
            result: rx,
            state: Some(state),
            event_loop: event_loop.clone().unbind(),
        })
    }
}

impl Future for PyTask {
    type Output = PyResult<Py<PyAny>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.result).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                self.state = None;
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
        let Some(state) = self.state.take() else {
            return;
        };
        let task = {
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            state.cancelled = true;
            state.task.take()
        };
        if let Some(task) = task {
            attach_alive(|py| {
                // Task.cancel is not thread-safe: ask the loop to run it.
                if let Ok(cancel) = task.getattr(py, "cancel") {
                    let _ = self
                        .event_loop
                        .call_method1(py, "call_soon_threadsafe", (cancel,));
                }
            });
        }
    }
}

/// Runs on the loop's thread: creates the task and attaches the done-callback.
#[pyclass(module = "lmos._native")]
struct TaskStart {
    coroutine: Mutex<Option<Py<PyAny>>>,
    done: Mutex<Option<TaskDone>>,
    state: Arc<Mutex<StartState>>,
}

#[pymethods]
impl TaskStart {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let coroutine = self
            .coroutine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (Some(coroutine), Some(done)) = (coroutine, done) else {
            return Ok(());
        };
        // Held while the task is made, so that a concurrent drop either sees the task or has
        // already marked the start cancelled.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.cancelled {
            // Dropped before it started: never run it.
            let _ = coroutine.call_method0(py, "close");
            return Ok(());
        }
        let task = py
            .import("asyncio")?
            .call_method1("ensure_future", (coroutine,))?;
        task.call_method1("add_done_callback", (done,))?;
        state.task = Some(task.unbind());
        Ok(())
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

/// The asyncio future `future_into_py` hands out is settled by `_settle`, scheduled on its loop.
static SETTLE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Settles `future` with `value` (a result when `ok`, else an exception), unless it is done
/// already (cancelled by its awaiter).
#[pyfunction]
fn _settle(future: &Bound<'_, PyAny>, ok: bool, value: &Bound<'_, PyAny>) -> PyResult<()> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    let method = if ok { "set_result" } else { "set_exception" };
    future.call_method1(method, (value,))?;
    Ok(())
}

/// Stops the Rust task of a [`future_into_py`] awaitable when its asyncio future is cancelled.
#[pyclass(module = "lmos._native", frozen)]
struct AbortOnCancel {
    handle: tokio::task::AbortHandle,
}

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.handle.abort();
        }
        Ok(())
    }
}

/// Runs `future` on the Tokio runtime and returns an asyncio future of its result, created on
/// the running loop; cancelling that future drops the Rust future. It replaces
/// `pyo3_async_runtimes::tokio::future_into_py`, whose completion attaches to the interpreter
/// outside [`attach_alive`]: a Tokio thread doing so while the interpreter finalizes ends with
/// `pthread_exit` on CPython < 3.13, which aborts the process (a short-lived client script that
/// consumed a thing aborted at exit most of the time). Here the result is delivered inside
/// [`attach_alive`], which the `atexit` hook waits for, and not at all once the interpreter
/// exits (nobody awaits it then).
pub fn future_into_py<'py, F, T>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    use futures::FutureExt;
    use pyo3::IntoPyObjectExt;

    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let awaitable = event_loop.call_method0("create_future")?;
    let settle = SETTLE
        .get_or_try_init(py, || {
            wrap_pyfunction!(_settle, py).map(|f| f.into_any().unbind())
        })?
        .clone_ref(py);
    let event_loop = event_loop.unbind();
    let target = awaitable.clone().unbind();
    let task = pyo3_async_runtimes::tokio::get_runtime().spawn(async move {
        let outcome = std::panic::AssertUnwindSafe(future).catch_unwind().await;
        attach_alive(move |py| {
            let settled = match outcome {
                Ok(result) => result.and_then(|value| value.into_py_any(py)),
                Err(_) => Err(pyo3::panic::PanicException::new_err(
                    "the Rust side of an lmos call panicked",
                )),
            };
            let (ok, value) = match settled {
                Ok(value) => (true, value),
                Err(error) => (false, error.into_value(py).into_any()),
            };
            // A closed loop has no one waiting: the result is dropped.
            let _ = event_loop
                .bind(py)
                .call_method1("call_soon_threadsafe", (settle, target, ok, value));
        });
    });
    awaitable.call_method1(
        "add_done_callback",
        (AbortOnCancel {
            handle: task.abort_handle(),
        },),
    )?;
    Ok(awaitable)
}
