//! The Tokio runtime the library's async functions run on.
//!
//! UniFFI polls a Rust future from the threads of the foreign executor, which know nothing of
//! Tokio; the core's servers and clients need a Tokio runtime. [`run`] spawns the work on one
//! process-wide multi-threaded runtime and awaits its result; dropping the returned future (the
//! Kotlin coroutine was cancelled) aborts the task, so cancellation reaches the core.

use std::future::Future;
use std::sync::OnceLock;

use crate::errors::NativeError;

fn runtime() -> Result<&'static tokio::runtime::Runtime, NativeError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("lmos-tokio")
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| NativeError::new("runtime", format!("cannot start the Tokio runtime: {e}")))
}

/// The runtime's handle, for work that must start inside it (spawned tasks, timers).
pub fn handle() -> Result<tokio::runtime::Handle, NativeError> {
    runtime().map(|r| r.handle().clone())
}

/// Aborts the task when dropped before it finished.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `future` on the library's runtime and waits for its output.
pub async fn run<F, T>(future: F) -> Result<T, NativeError>
where
    F: Future<Output = Result<T, NativeError>> + Send + 'static,
    T: Send + 'static,
{
    let mut task = AbortOnDrop(runtime()?.spawn(future));
    match (&mut task.0).await {
        Ok(result) => result,
        Err(error) if error.is_cancelled() => {
            Err(NativeError::new("closed", "the call was cancelled"))
        }
        Err(error) => Err(NativeError::new(
            "internal",
            format!("the call panicked: {error}"),
        )),
    }
}
