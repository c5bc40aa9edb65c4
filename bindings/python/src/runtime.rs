//! The Tokio runtime behind every awaitable of the package.
//!
//! Its threads block the signals a user sends to stop a program (SIGINT, SIGTERM, SIGHUP,
//! SIGQUIT), so the kernel delivers them to the interpreter's main thread. A process-directed
//! signal goes to any thread that does not block it; when a runtime thread took it, CPython only
//! set a flag, and an event loop idling in `epoll_wait` (one that installed no handler through
//! `loop.add_signal_handler`, e.g. plain `asyncio.run`) never woke up to raise
//! `KeyboardInterrupt`: Ctrl-C was lost.

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};

/// Hands pyo3-async-runtimes the builder of the runtime it starts on first use.
pub fn configure() {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().on_thread_start(block_stop_signals);
    pyo3_async_runtimes::tokio::init(builder);
}

/// Blocks the stop signals in the calling (runtime) thread.
fn block_stop_signals() {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(signal);
    }
    // Failing only leaves the thread as it was (signals may then reach it, as before).
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
}
