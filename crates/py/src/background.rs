//! Long work off the interpreter's thread.
//!
//! The work runs on a new thread while the caller waits with the GIL released, waking every
//! [`POLL`] to let Python handle signals. Ctrl-C raises `KeyboardInterrupt` at once; the
//! abandoned work cannot be cancelled (the prover has no cancellation points), so its thread
//! runs to the end on its own and its result is dropped. A panic in the work becomes an
//! `InternalError`, never an abort of the interpreter.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

use pyo3::prelude::*;

use crate::errors::{Failure, Kind, Result};

/// How often the waiting caller lets Python check for signals.
const POLL: Duration = Duration::from_millis(50);

/// Stack of the work's thread.
const STACK: usize = 8 << 20;

/// The thread pool the work runs on, with a main thread's stack per worker: the provers'
/// parallel loops then split their work between the workers directly, instead of each one
/// being handed over from the work's thread and back (as in the command line). `None` if the
/// pool cannot be built; the work then runs on its own thread alone.
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let builder = rayon::ThreadPoolBuilder::new()
            .stack_size(STACK)
            .thread_name(|i| format!("zkml-pool-{i}"));
        builder.build().ok()
    })
    .as_ref()
}

/// Runs `work` on its own thread; returns its result, or raises what it failed with, or
/// `KeyboardInterrupt` (or another signal handler's exception) while it runs.
pub fn run<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("zkml-work".into())
        // as a main thread's, where the command line runs the same work
        .stack_size(STACK)
        .spawn(move || {
            let on_pool = || match pool() {
                Some(pool) => pool.install(work),
                None => work(),
            };
            let result = catch_unwind(AssertUnwindSafe(on_pool)).unwrap_or_else(|payload| {
                Err(Failure::new(
                    Kind::Internal,
                    panic_message(payload.as_ref()),
                ))
            });
            // the caller may have gone (Ctrl-C): the result is dropped
            let _ = tx.send(result);
        })
        .map_err(|e| Failure::new(Kind::Internal, format!("cannot start a thread: {e}")))
        .map_err(|f| f.into_pyerr(py))?;
    let mut rx = rx;
    loop {
        // the receiver moves in and out: a closure that runs without the GIL must be Send
        let (received, back) = py.detach(move || (rx.recv_timeout(POLL), rx));
        rx = back;
        match received {
            Ok(result) => return result.map_err(|f| f.into_pyerr(py)),
            Err(RecvTimeoutError::Timeout) => py.check_signals()?,
            Err(RecvTimeoutError::Disconnected) => {
                let f = Failure::new(Kind::Internal, "the worker thread ended without a result");
                return Err(f.into_pyerr(py));
            }
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    format!("internal error (a bug in zkml, please report it): {text}")
}
