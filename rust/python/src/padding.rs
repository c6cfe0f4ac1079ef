//! Bindings: padding ragged rows into a 2-D int64 array.

use fast_axolotl_core::pack::Ragged;
use fast_axolotl_core::pad::{self, Fill};
use numpy::{PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::errors::{interruptible, CoreError};

#[pyfunction]
pub fn pad_rows<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, i64>,
    offsets: PyReadonlyArray1<'py, i64>,
    target_length: usize,
    pad_value: i64,
    left: bool,
    range_padding: bool,
) -> PyResult<Bound<'py, PyArray2<i64>>> {
    let rows = Ragged::new(values.as_slice()?, offsets.as_slice()?).map_err(CoreError)?;
    let fill = if range_padding {
        Fill::Range
    } else {
        Fill::Value(pad_value)
    };
    // numpy allocates the output, not zeroed; the kernel fills it detached.
    // SAFETY: `pad_rows_into` writes every element (tokens and padding) before the array
    // reaches Python; on an error (or a cancel) the array is dropped unseen.
    let out = unsafe { PyArray2::<i64>::new(py, [rows.len(), target_length], false) };
    {
        let mut rw = out.readwrite();
        let slice = rw.as_slice_mut()?;
        let size = rows.len().saturating_mul(target_length);
        interruptible(py, size, || {
            pad::pad_rows_into(rows, target_length, fill, left, 0, slice)
        })?;
    }
    Ok(out)
}
