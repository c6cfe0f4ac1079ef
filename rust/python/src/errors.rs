//! The one place core errors become Python exceptions (classes from `fast_axolotl.errors`).

use fast_axolotl_core::error::Position;
use fast_axolotl_core::Error;
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;

pyo3::import_exception!(fast_axolotl.errors, InvalidArgumentError);
pyo3::import_exception!(fast_axolotl.errors, ArgumentTypeError);
pyo3::import_exception!(fast_axolotl.errors, SequenceTooLongError);
pyo3::import_exception!(fast_axolotl.errors, UnsupportedTypeError);
pyo3::import_exception!(fast_axolotl.errors, UnsupportedFormatError);
pyo3::import_exception!(fast_axolotl.errors, DataFormatError);
pyo3::import_exception!(fast_axolotl.errors, SchemaMismatchError);
pyo3::import_exception!(fast_axolotl.errors, DatasetNotFoundError);
pyo3::import_exception!(fast_axolotl.errors, DatasetReadError);
pyo3::import_exception!(fast_axolotl.errors, InternalError);

/// A core error on its way to Python (the orphan rule forbids `From<Error> for PyErr` here).
pub struct CoreError(pub Error);

impl From<Error> for CoreError {
    fn from(e: Error) -> Self {
        CoreError(e)
    }
}

fn position(p: &Option<Position>) -> Option<String> {
    p.as_ref().map(|p| p.to_string())
}

impl From<CoreError> for PyErr {
    fn from(CoreError(e): CoreError) -> PyErr {
        let message = e.to_string();
        match e {
            Error::InvalidArgument(_) => InvalidArgumentError::new_err(message),
            Error::SequenceTooLong(_) => SequenceTooLongError::new_err(message),
            Error::UnsupportedType(_) => UnsupportedTypeError::new_err(message),
            Error::UnsupportedFormat(_) => UnsupportedFormatError::new_err(message),
            Error::DataFormat {
                path, position: p, ..
            } => DataFormatError::new_err((message, path, position(&p))),
            Error::SchemaMismatch {
                path, position: p, ..
            } => SchemaMismatchError::new_err((message, path, position(&p))),
            Error::NotFound { path } => DatasetNotFoundError::new_err((message, path)),
            Error::Io { path, .. } => DatasetReadError::new_err((message, path)),
            Error::Internal(_) => InternalError::new_err(message),
            Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        }
    }
}

/// Run native work with the GIL released; a panic becomes `InternalError`, never an abort.
pub fn detached<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> fast_axolotl_core::Result<T> + Send,
    T: Send,
{
    let outcome = py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    match outcome {
        Ok(result) => result.map_err(|e| CoreError(e).into()),
        Err(panic) => Err(panic_to_py(panic)),
    }
}

pub fn panic_to_py(panic: Box<dyn std::any::Any + Send>) -> PyErr {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    InternalError::new_err(format!(
        "fast-axolotl native code panicked (a bug, please report it): {what}"
    ))
}

/// Work below this size (elements, bytes or rows, as each caller counts) runs through
/// `detached` alone: a helper thread costs tens of microseconds, and short calls end before a
/// Ctrl-C would be noticed anyway (Python handles the signal right after they return).
pub const INTERRUPTIBLE_SIZE: usize = 1 << 20;

/// Poll interval of the waiting thread: the latency of Ctrl-C is this plus the time to the
/// work's next `cancel::check()`.
const POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// `detached` for long calls that Ctrl-C must stop: the work runs on a scoped helper thread
/// with a cancellation token while this thread waits in POLL steps with the GIL released and
/// re-attaches between them to run Python's signal handlers. When one raises (SIGINT ->
/// KeyboardInterrupt), the token is cancelled, the helper is joined (it stops at its next
/// check) and the handler's exception is returned. `size` below INTERRUPTIBLE_SIZE: plain
/// `detached`.
pub fn interruptible<T, F>(py: Python<'_>, size: usize, f: F) -> PyResult<T>
where
    F: FnOnce() -> fast_axolotl_core::Result<T> + Send,
    T: Send,
{
    use fast_axolotl_core::cancel::{self, Token};
    use std::sync::mpsc;

    if size < INTERRUPTIBLE_SIZE {
        return detached(py, f);
    }
    let token = Token::new();
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let work_token = token.clone();
        let worker = scope.spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                cancel::with_token(Some(work_token), f)
            }));
            let _ = done_tx.send(());
            outcome
        });
        let mut signal: Option<PyErr> = None;
        let mut done_rx = Some(done_rx);
        loop {
            let rx = done_rx.take().expect("put back each round");
            let (rx, finished) = py.detach(move || {
                let finished =
                    !matches!(rx.recv_timeout(POLL), Err(mpsc::RecvTimeoutError::Timeout));
                (rx, finished)
            });
            done_rx = Some(rx);
            if finished {
                break;
            }
            if let Err(e) = py.check_signals() {
                token.cancel();
                signal = Some(e);
                break;
            }
        }
        // After a cancel the helper stops at its next check; wait for it detached.
        let outcome = py.detach(|| worker.join());
        if let Some(e) = signal {
            return Err(e);
        }
        match outcome {
            Ok(Ok(result)) => result.map_err(|e| CoreError(e).into()),
            Ok(Err(panic)) | Err(panic) => Err(panic_to_py(panic)),
        }
    })
}

/// How long a conversion under the GIL runs before [`Pauses::tick`] pauses it.
const GIL_SLICE: std::time::Duration = std::time::Duration::from_millis(5);

/// How long a pause leaves the GIL to a waiting thread.
const GIL_HANDOFF: std::time::Duration = std::time::Duration::from_micros(100);

/// Long conversions under the GIL (Python lists of rows into native buffers) pause every few
/// milliseconds: the GIL is released for a moment, so other Python threads run (CPython hands
/// it to a waiting thread), and pending signals are handled, so Ctrl-C lands. Pausing is safe
/// between rows: each row is read whole while attached, the rows are held by reference, and a
/// row another thread resizes meanwhile is reported by the row reader.
pub struct Pauses {
    since: std::time::Instant,
}

impl Pauses {
    pub fn new() -> Self {
        Pauses {
            since: std::time::Instant::now(),
        }
    }

    /// Call between rows: pauses when the current slice is used up; raises what a signal
    /// handler raised (KeyboardInterrupt).
    pub fn tick(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.since.elapsed() >= GIL_SLICE {
            // Not a bare release and re-take: a waiting thread's wake-up takes tens of
            // microseconds, so it would find the GIL taken again, and CPython only forces a
            // switch when no switch happened for 5 ms (each re-take counts as one): the
            // waiter would starve. A short sleep lets it take the GIL (~2% of a slice).
            py.detach(|| std::thread::sleep(GIL_HANDOFF));
            py.check_signals()?;
            self.since = std::time::Instant::now();
        }
        Ok(())
    }
}
