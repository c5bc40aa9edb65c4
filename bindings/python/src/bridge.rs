//! Running Python coroutines from Rust tasks: a handler's coroutine becomes a task on the asyncio
//! event loop the servient was started on, and the Rust side awaits it like a future. Dropping
//! that future cancels the task (the handler sees `asyncio.CancelledError`). The Tokio side
//! hands the loop jobs through a [`LoopQueue`] and never waits for the GIL on the way.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};

use lmos::thing::HandlerError;
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

/// Work that must run on the event loop's thread, holding the GIL.
type Job = Box<dyn for<'py> FnOnce(Python<'py>) + Send>;

/// How long a scheduled handler may wait for its loop before [`PyTask`] checks that the loop
/// still runs.
const LOOP_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// How a [`LoopQueue`] wakes its loop when work arrives.
enum Wake {
    /// A byte on a socket the loop watches (`loop.add_reader`): no GIL needed on the Tokio side.
    #[cfg(unix)]
    Socket {
        reader: std::os::unix::net::UnixStream,
        writer: std::os::unix::net::UnixStream,
    },
    /// `loop.call_soon_threadsafe`, for loops without `add_reader` (the proactor loop on
    /// Windows): the Tokio side attaches to the interpreter once per batch.
    Threadsafe,
}

/// The queue of work for one asyncio event loop. Tokio threads push jobs without touching the
/// interpreter; the loop's thread runs every queued job in one callback. All Python work of a
/// handler call (converting the input, calling the function, creating its task, converting the
/// result) happens there, so Tokio threads never wait for the GIL while the loop holds it, and
/// one wakeup serves every request that arrived meanwhile.
pub struct LoopQueue {
    jobs: Mutex<Vec<Job>>,
    wake: Wake,
    event_loop: Py<PyAny>,
    /// Whether tasks start eagerly (`asyncio.Task(..., eager_start=True)`, Python 3.12+): a
    /// handler that does not suspend completes within the callback that started it.
    eager: bool,
}

impl LoopQueue {
    /// A queue for `event_loop`, which must be the running loop of the calling thread.
    fn attach(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<Self>> {
        let eager = py.import("sys")?.getattr("version_info")?.ge((3, 12))?;
        #[cfg(unix)]
        if let Some(queue) = Self::attach_socket(py, event_loop, eager)? {
            return Ok(queue);
        }
        Ok(Self::new(event_loop, Wake::Threadsafe, eager))
    }

    fn new(event_loop: &Bound<'_, PyAny>, wake: Wake, eager: bool) -> Arc<Self> {
        Arc::new(LoopQueue {
            jobs: Mutex::new(Vec::new()),
            wake,
            event_loop: event_loop.clone().unbind(),
            eager,
        })
    }

    /// Registers a wakeup socket with `loop.add_reader`; `None` when the loop has no readers.
    #[cfg(unix)]
    fn attach_socket(
        py: Python<'_>,
        event_loop: &Bound<'_, PyAny>,
        eager: bool,
    ) -> PyResult<Option<Arc<Self>>> {
        use std::os::fd::AsRawFd;
        let no_socket = |e: std::io::Error| {
            PyRuntimeError::new_err(format!("no wakeup socket for the loop: {e}"))
        };
        let (reader, writer) = std::os::unix::net::UnixStream::pair().map_err(no_socket)?;
        for end in [&reader, &writer] {
            end.set_nonblocking(true).map_err(no_socket)?;
        }
        let fd = reader.as_raw_fd();
        let queue = Self::new(event_loop, Wake::Socket { reader, writer }, eager);
        let drain = Drain {
            queue: Arc::downgrade(&queue),
        };
        match event_loop.call_method1("add_reader", (fd, drain)) {
            Ok(_) => Ok(Some(queue)),
            Err(err) if err.is_instance_of::<pyo3::exceptions::PyNotImplementedError>(py) => {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// Queues `job` for the loop's thread and wakes the loop if it has nothing queued yet.
    fn push(self: &Arc<Self>, job: Job) {
        let was_empty = {
            let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let was_empty = jobs.is_empty();
            jobs.push(job);
            was_empty
        };
        if was_empty {
            self.wake();
        }
    }

    fn wake(self: &Arc<Self>) {
        match &self.wake {
            #[cfg(unix)]
            Wake::Socket { writer, .. } => {
                use std::io::Write;
                // A full socket already holds a wakeup the loop has not read.
                let _ = (&*writer).write(&[1]);
            }
            Wake::Threadsafe => {
                let drain = Drain {
                    queue: Arc::downgrade(self),
                };
                attach_alive(|py| {
                    let _ = self
                        .event_loop
                        .call_method1(py, "call_soon_threadsafe", (drain,));
                });
            }
        }
    }

    /// Runs on the loop's thread: every job queued so far.
    fn run_jobs(&self, py: Python<'_>) {
        #[cfg(unix)]
        if let Wake::Socket { reader, .. } = &self.wake {
            use std::io::Read;
            // Read the wakeups before taking the jobs: a job queued after the take wakes the
            // loop again.
            let mut buffer = [0u8; 256];
            while matches!((&*reader).read(&mut buffer), Ok(n) if n > 0) {}
        }
        for job in self.take_jobs() {
            job(py);
        }
    }

    fn take_jobs(&self) -> Vec<Job> {
        std::mem::take(&mut *self.jobs.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether the loop is closed (an unanswerable question counts as closed).
    fn is_closed(&self, py: Python<'_>) -> bool {
        self.event_loop
            .call_method0(py, "is_closed")
            .and_then(|closed| closed.is_truthy(py))
            .unwrap_or(true)
    }

    /// Whether the loop is closed, so that nothing queued will ever run.
    fn loop_closed(&self) -> bool {
        attach_alive(|py| self.is_closed(py)).unwrap_or(true)
    }

    /// Drops the queued jobs: their tasks end as if the loop had refused them.
    fn abandon(&self) {
        drop(self.take_jobs());
    }

    /// Creates the asyncio task of `coroutine` (on the loop's thread).
    fn create_task<'py>(
        &self,
        py: Python<'py>,
        coroutine: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let event_loop = self.event_loop.bind(py);
        if self.eager {
            let kwargs = PyDict::new(py);
            kwargs.set_item("loop", event_loop)?;
            kwargs.set_item("eager_start", true)?;
            py.import("asyncio")?
                .getattr("Task")?
                .call((coroutine,), Some(&kwargs))
        } else {
            event_loop.call_method1("create_task", (coroutine,))
        }
    }

    /// Stops watching the wakeup socket (on the loop's thread, if it still runs) and lets the
    /// queue go.
    fn detach(self: Arc<Self>) {
        self.abandon();
        #[cfg(unix)]
        if matches!(self.wake, Wake::Socket { .. }) {
            attach_alive(|py| {
                if !self.is_closed(py) {
                    // The socket closes only after the loop forgot it, so that its number is
                    // never watched twice.
                    let _ = self.event_loop.call_method1(
                        py,
                        "call_soon_threadsafe",
                        (Detach {
                            queue: Mutex::new(Some(self.clone())),
                        },),
                    );
                }
            });
        }
    }
}

/// The loop's reader callback: runs the queued jobs.
#[pyclass(module = "lmos._native", frozen)]
struct Drain {
    queue: std::sync::Weak<LoopQueue>,
}

#[pymethods]
impl Drain {
    fn __call__(&self, py: Python<'_>) {
        if let Some(queue) = self.queue.upgrade() {
            queue.run_jobs(py);
        }
    }
}

/// Removes a detached queue's wakeup socket from its loop.
#[pyclass(module = "lmos._native", frozen)]
struct Detach {
    queue: Mutex<Option<Arc<LoopQueue>>>,
}

#[pymethods]
impl Detach {
    #[cfg_attr(not(unix), allow(unused_variables))]
    fn __call__(&self, py: Python<'_>) {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
        #[cfg(unix)]
        if let Some(queue) = &queue {
            use std::os::fd::AsRawFd;
            if let Wake::Socket { reader, .. } = &queue.wake {
                let _ = queue
                    .event_loop
                    .call_method1(py, "remove_reader", (reader.as_raw_fd(),));
            }
        }
        drop(queue);
    }
}

/// The asyncio event loop that Python handlers of one servient run on, with its job queue;
/// captured when the servient starts (or when a handler is registered inside a running loop).
#[derive(Clone, Default)]
pub struct EventLoop(Arc<LoopSlot>);

/// The captured loop's queue; the last [`EventLoop`] to go detaches it from the loop.
#[derive(Default)]
struct LoopSlot(RwLock<Option<Arc<LoopQueue>>>);

impl Drop for LoopSlot {
    fn drop(&mut self) {
        if let Some(queue) = self.0.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            queue.detach();
        }
    }
}

impl EventLoop {
    /// Captures the running loop of the calling thread, if there is one.
    pub fn capture_running(&self, py: Python<'_>) -> PyResult<bool> {
        let asyncio = py.import("asyncio")?;
        let running = asyncio.call_method0("_get_running_loop")?;
        if running.is_none() {
            return Ok(false);
        }
        let mut slot = self.0 .0.write().unwrap_or_else(|e| e.into_inner());
        if let Some(queue) = slot.as_ref() {
            if queue.event_loop.bind(py).is(&running) {
                return Ok(true);
            }
        }
        let queue = LoopQueue::attach(py, &running)?;
        if let Some(old) = slot.replace(queue) {
            old.detach();
        }
        Ok(true)
    }

    /// The captured loop's queue.
    fn queue(&self) -> Option<Arc<LoopQueue>> {
        self.0 .0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Why a handler's coroutine never ran.
#[derive(Debug)]
pub enum NotRun {
    /// No loop was captured: the servient was not started inside one.
    NoLoop,
    /// The loop closed (or the interpreter is exiting) before the handler ran.
    LoopGone,
}

impl From<NotRun> for HandlerError {
    fn from(not_run: NotRun) -> Self {
        HandlerError::Failed(not_run.to_string())
    }
}

impl std::fmt::Display for NotRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotRun::NoLoop => {
                "no asyncio event loop to run the handler on: start the servient inside one"
            }
            NotRun::LoopGone => "the asyncio event loop the servient started on is not running",
        })
    }
}

/// A Python coroutine run as a task on an event loop. Awaiting it gives what `settle` made of
/// the coroutine's outcome (on the loop's thread); dropping it before then cancels the task.
pub struct PyTask<O> {
    result: oneshot::Receiver<O>,
    /// Shared with the jobs on the loop's thread; `None` once the result has arrived.
    state: Option<Arc<TaskState>>,
    queue: Arc<LoopQueue>,
    /// Armed while the task has not started, to notice a loop that stopped running.
    check: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Where a scheduled coroutine is, shared between the Tokio side and the loop's thread.
#[derive(Default)]
struct TaskState {
    started: AtomicBool,
    dropped: AtomicBool,
    /// The running asyncio task (touched only on the loop's thread).
    task: Mutex<Option<Py<PyAny>>>,
}

impl<O: Send + 'static> PyTask<O> {
    /// Queues a job on the loop of `event_loop` that makes the coroutine with `start`, runs it
    /// as an asyncio task and hands its outcome to `settle`. Nothing here touches the
    /// interpreter.
    pub fn spawn<S, F>(event_loop: &EventLoop, start: S, settle: F) -> Result<Self, NotRun>
    where
        S: for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>> + Send + 'static,
        F: for<'py> FnOnce(Python<'py>, PyResult<Bound<'py, PyAny>>) -> O + Send + 'static,
    {
        let queue = event_loop.queue().ok_or(NotRun::NoLoop)?;
        let (sender, result) = oneshot::channel();
        let state = Arc::new(TaskState::default());
        let job_state = state.clone();
        let job_queue = queue.clone();
        queue.push(Box::new(move |py| {
            if job_state.dropped.load(Ordering::SeqCst) {
                return; // Dropped before it started: never call the handler.
            }
            job_state.started.store(true, Ordering::SeqCst);
            let done = TaskDone {
                settle: Mutex::new(Some(Box::new(move |py, outcome| {
                    let _ = sender.send(settle(py, outcome));
                }))),
                state: job_state.clone(),
            };
            let task = match start(py).and_then(|c| job_queue.create_task(py, c)) {
                Ok(task) => task,
                Err(err) => return done.finish(py, Err(err)),
            };
            if task_done(&task) {
                // An eager task that never suspended.
                return done.finish(py, task_outcome(&task));
            }
            *job_state.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.clone().unbind());
            if let Err(err) = task.call_method1("add_done_callback", (done,)) {
                log_exception(py, "scheduling a handler", &err);
            }
        }));
        Ok(PyTask {
            result,
            state: Some(state),
            queue,
            check: None,
        })
    }
}

fn task_done(task: &Bound<'_, PyAny>) -> bool {
    task.call_method0("done")
        .and_then(|d| d.is_truthy())
        .unwrap_or(false)
}

/// The result of a finished task, or its exception (`CancelledError` when it was cancelled).
fn task_outcome<'py>(task: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if task.call_method0("cancelled")?.is_truthy()? {
        return Err(cancelled_error(task.py()));
    }
    task.call_method0("result")
}

impl<O> Future for PyTask<O> {
    type Output = Result<O, NotRun>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            if let Poll::Ready(result) = Pin::new(&mut self.result).poll(cx) {
                self.state = None;
                self.check = None;
                return Poll::Ready(result.map_err(|_| NotRun::LoopGone));
            }
            let started = self
                .state
                .as_ref()
                .is_some_and(|s| s.started.load(Ordering::SeqCst));
            if started {
                self.check = None;
                return Poll::Pending;
            }
            let check = self
                .check
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(LOOP_CHECK)));
            if check.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Waited a while and the loop has not taken the job: is it still there?
            self.check = None;
            if self.queue.loop_closed() {
                self.queue.abandon();
                return Poll::Ready(Err(NotRun::LoopGone));
            }
        }
    }
}

impl<O> Drop for PyTask<O> {
    fn drop(&mut self) {
        let Some(state) = self.state.take() else {
            return;
        };
        state.dropped.store(true, Ordering::SeqCst);
        // Queued after the start job, so it finds the task if there is one.
        self.queue.push(Box::new(move |py| {
            let task = state.task.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(task) = task {
                let _ = task.call_method0(py, "cancel");
            }
        }));
    }
}

/// What becomes of a finished coroutine's outcome.
type Settle = Box<dyn for<'py> FnOnce(Python<'py>, PyResult<Bound<'py, PyAny>>) + Send>;

/// Done-callback of a handler's task: settles its outcome on the loop's thread.
#[pyclass(module = "lmos._native", frozen)]
struct TaskDone {
    settle: Mutex<Option<Settle>>,
    state: Arc<TaskState>,
}

impl TaskDone {
    fn finish(&self, py: Python<'_>, outcome: PyResult<Bound<'_, PyAny>>) {
        let task = self
            .state
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(task);
        if let Some(settle) = self.settle.lock().unwrap_or_else(|e| e.into_inner()).take() {
            settle(py, outcome);
        }
    }
}

#[pymethods]
impl TaskDone {
    fn __call__(&self, task: &Bound<'_, PyAny>) {
        self.finish(task.py(), task_outcome(task));
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
