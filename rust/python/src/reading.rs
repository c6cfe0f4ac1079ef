//! Bindings: streaming readers (registered by `register`).
//!
//! `open_reader(...)` returns a `Reader` iterator; each `__next__` decodes one batch with
//! the GIL released and returns an `ArrowBatch` that exports it through the Arrow PyCapsule
//! interface (`__arrow_c_array__`), so `pyarrow.record_batch(obj)` takes the buffers
//! without copying. `Reader.schema()` returns an `ArrowSchema` (`__arrow_c_schema__`).

use std::sync::{Arc, Mutex};

use arrow_array::{Array, RecordBatch, StructArray};
use arrow_data::ffi::FFI_ArrowArray;
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{DataType, SchemaRef};
use fast_axolotl_core::read::{Compression, Format, ReadOptions, Reader as CoreReader};
use fast_axolotl_core::Error;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};

use crate::errors::{interruptible, CoreError, InternalError};

fn schema_capsule<'py>(py: Python<'py>, data_type: &DataType) -> PyResult<Bound<'py, PyCapsule>> {
    let schema = FFI_ArrowSchema::try_from(data_type)
        .map_err(|e| InternalError::new_err(format!("cannot export the Arrow schema: {e}")))?;
    PyCapsule::new_with_value(py, schema, c"arrow_schema")
}

/// One record batch, exported on request through `__arrow_c_array__`.
#[pyclass(module = "fast_axolotl._native", frozen)]
pub struct ArrowBatch {
    batch: RecordBatch,
}

#[pymethods]
impl ArrowBatch {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema; // the batch is exported as is
        let array = StructArray::from(self.batch.clone());
        let data = array.into_data();
        let schema = schema_capsule(py, data.data_type())?;
        let array = PyCapsule::new_with_value(py, FFI_ArrowArray::new(&data), c"arrow_array")?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }

    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }
}

/// A schema, exported on request through `__arrow_c_schema__`.
#[pyclass(module = "fast_axolotl._native", frozen)]
pub struct ArrowSchema {
    schema: SchemaRef,
}

#[pymethods]
impl ArrowSchema {
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let schema = FFI_ArrowSchema::try_from(self.schema.as_ref())
            .map_err(|e| InternalError::new_err(format!("cannot export the Arrow schema: {e}")))?;
        PyCapsule::new_with_value(py, schema, c"arrow_schema")
    }
}

/// The iterator `open_reader` returns.
#[pyclass(module = "fast_axolotl._native")]
pub struct Reader {
    inner: Arc<Mutex<CoreReader>>,
    batch_size: usize,
}

impl Reader {
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut CoreReader) -> fast_axolotl_core::Result<T> + Send,
    ) -> PyResult<T> {
        let inner = self.inner.clone();
        // Batches of a few thousand rows take milliseconds: Python handles Ctrl-C between
        // them. Huge batches (~16 bytes a row at least) run interruptibly.
        let size = self.batch_size.saturating_mul(16);
        interruptible(py, size, move || {
            let mut guard = inner.lock().map_err(|_| {
                Error::invalid("the reader is unusable after a panic in another call")
            })?;
            f(&mut guard)
        })
    }
}

#[pymethods]
impl Reader {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<ArrowBatch>> {
        Ok(self
            .with(py, |r| r.next_batch())?
            .map(|batch| ArrowBatch { batch }))
    }

    /// The output schema (opens the input if not yet open).
    fn schema(&self, py: Python<'_>) -> PyResult<ArrowSchema> {
        Ok(ArrowSchema {
            schema: self.with(py, |r| r.schema())?,
        })
    }

    /// Records dropped so far under `on_error="skip"`.
    #[getter]
    fn skipped(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |r| Ok(r.skipped()))
    }
}

/// `format`: a kernel format name, converted once (the public layer has validated it).
pub struct FormatArg(Format);

impl<'py> FromPyObject<'_, 'py> for FormatArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        let name: &str = obj.extract()?;
        Ok(FormatArg(Format::parse(name).map_err(CoreError)?))
    }
}

/// `compression`: None, "gzip", "zstd" or "auto".
pub struct CompressionArg(Option<Compression>);

impl<'py> FromPyObject<'_, 'py> for CompressionArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        let name: Option<&str> = obj.extract()?;
        Ok(CompressionArg(Compression::parse(name).map_err(CoreError)?))
    }
}

/// `on_error`: "raise" or "skip" (whether malformed records are dropped and counted).
pub struct OnError {
    skip_bad: bool,
}

impl<'py> FromPyObject<'_, 'py> for OnError {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        let skip_bad = match obj.extract::<&str>()? {
            "raise" => false,
            "skip" => true,
            other => {
                return Err(CoreError(Error::invalid(format!(
                    "on_error must be 'raise' or 'skip', got {other:?}"
                )))
                .into())
            }
        };
        Ok(OnError { skip_bad })
    }
}

// The arguments are the kernel's Python signature, converted once here into ReadOptions.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (paths, format, compression, batch_size, columns, on_error, num_threads=0, row_groups=None))]
pub fn open_reader(
    paths: Vec<String>,
    format: FormatArg,
    compression: CompressionArg,
    batch_size: usize,
    columns: Option<Vec<String>>,
    on_error: OnError,
    num_threads: usize,
    row_groups: Option<(usize, usize)>,
) -> PyResult<Reader> {
    let options = ReadOptions {
        format: format.0,
        compression: compression.0,
        batch_size,
        columns,
        skip_bad: on_error.skip_bad,
        num_threads,
        row_groups,
    };
    let reader = CoreReader::new(paths, options).map_err(CoreError)?;
    Ok(Reader {
        inner: Arc::new(Mutex::new(reader)),
        batch_size,
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Reader>()?;
    m.add_class::<ArrowBatch>()?;
    m.add_class::<ArrowSchema>()?;
    m.add_function(wrap_pyfunction!(open_reader, m)?)?;
    Ok(())
}
