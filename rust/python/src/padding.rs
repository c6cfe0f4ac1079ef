//! Bindings: padding columns of ragged rows into one 3-D int64 array.

use fast_axolotl_core::pack::Ragged;
use fast_axolotl_core::pad::{self, Fill};
use numpy::{PyArray3, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors::{interruptible, CoreError, InvalidArgumentError};

/// The rows of one `pad_block` column: `(values, offsets)`, or one array per row
/// (nothing concatenated first).
enum Rows<'py> {
    Ragged(PyReadonlyArray1<'py, i64>, PyReadonlyArray1<'py, i64>),
    Arrays(Vec<PyReadonlyArray1<'py, i64>>),
}

/// Several columns of `rows` rows padded to `target_length`, into one `(columns, rows,
/// target_length)` array: one allocation per batch, which malloc reuses from call to call
/// (separate outputs were returned to the OS and faulted in again each time).
/// `columns`: `(rows, pad_value, range_padding)` each.
#[pyfunction]
pub fn pad_block<'py>(
    py: Python<'py>,
    columns: Vec<(Bound<'py, PyAny>, i64, bool)>,
    rows: usize,
    target_length: usize,
    left: bool,
) -> PyResult<Bound<'py, PyArray3<i64>>> {
    let mut held = Vec::with_capacity(columns.len());
    let mut fills = Vec::with_capacity(columns.len());
    for (data, pad_value, range_padding) in &columns {
        held.push(match data.cast::<PyList>() {
            Ok(list) => Rows::Arrays(list.extract()?),
            Err(_) => {
                let (values, offsets) = data.extract()?;
                Rows::Ragged(values, offsets)
            }
        });
        fills.push(if *range_padding {
            Fill::Range
        } else {
            Fill::Value(*pad_value)
        });
    }
    let mut slices: Vec<Vec<&[i64]>> = Vec::with_capacity(held.len());
    for data in &held {
        let column = match data {
            Rows::Ragged(values, offsets) => Ragged::new(values.as_slice()?, offsets.as_slice()?)
                .map_err(CoreError)?
                .rows(),
            Rows::Arrays(arrays) => arrays
                .iter()
                .map(|a| a.as_slice())
                .collect::<Result<Vec<_>, _>>()?,
        };
        if column.len() != rows {
            return Err(InvalidArgumentError::new_err(format!(
                "a column has {} rows, expected {rows}",
                column.len()
            )));
        }
        slices.push(column);
    }
    let size = rows.saturating_mul(target_length);
    // SAFETY: `pad_slices_into` writes every element of each column's part before the
    // block reaches Python; on an error (or a cancel) the block is dropped unseen.
    let block = unsafe { PyArray3::<i64>::new(py, [slices.len(), rows, target_length], false) };
    {
        let mut rw = block.readwrite();
        let all = rw.as_slice_mut()?;
        interruptible(py, size.saturating_mul(slices.len()), || {
            for (k, (column, fill)) in slices.iter().zip(&fills).enumerate() {
                let out = &mut all[k * size..(k + 1) * size];
                pad::pad_slices_into(column, target_length, *fill, left, 0, out)?;
            }
            Ok(())
        })?;
    }
    Ok(block)
}
