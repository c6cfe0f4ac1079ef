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
            Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        }
    }
}

#[allow(dead_code)] // not used yet by any binding
pub type CoreResult<T> = Result<T, CoreError>;

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
