//! Bindings: padding columns of ragged rows into one 3-D int64 array.

use fast_axolotl_core::pack::Ragged;
use fast_axolotl_core::pad::{self, Fill};
use numpy::{PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors::{interruptible, CoreError, InvalidArgumentError, Pauses};

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

/// Rows given as lists or tuples of ints (measured by `list_lengths`), read straight into
/// their padded places in one `(rows, target_length)` array: the ints are read once and
/// no flat copy of them is made. Holds the GIL throughout (reading Python ints needs it).
#[pyfunction]
pub fn pad_lists<'py>(
    py: Python<'py>,
    sequences: &Bound<'py, PyAny>,
    lengths: PyReadonlyArray1<'py, i64>,
    target_length: usize,
    pad_value: i64,
    left: bool,
    name: &str,
) -> PyResult<Bound<'py, PyArray2<i64>>> {
    // Copied: the conversion below pauses with the GIL released, and another thread could
    // write to the caller's array meanwhile; these checked values are the ones used.
    let lengths = lengths.as_slice()?.to_vec();
    if let Some((i, &n)) = lengths
        .iter()
        .enumerate()
        .find(|&(_, &n)| n < 0 || n as usize > target_length)
    {
        return Err(InvalidArgumentError::new_err(format!(
            "lengths[{i}] is {n}, outside 0..={target_length}"
        )));
    }
    let rows = lengths.len();
    // SAFETY: every row is written in full below (its body by `read_row`, the rest by
    // `fill_padding`) or the call fails and the array is dropped unseen.
    let out = unsafe { PyArray2::<i64>::new(py, [rows, target_length], false) };
    {
        let mut rw = out.readwrite();
        let all = rw.as_slice_mut()?;
        let mut seen = 0;
        let mut pauses = Pauses::new();
        for (row, seq) in sequences.try_iter()?.enumerate() {
            let seq = seq?;
            if row >= rows {
                break;
            }
            seen += 1;
            pauses.tick(py)?; // other threads run, Ctrl-C lands, during a long read of ints
            let slot = &mut all[row * target_length..(row + 1) * target_length];
            let (body, padding) = pad::split_row(slot, lengths[row] as usize, left);
            crate::inputs::read_row(&seq, name, row, body)?;
            pad::fill_padding(padding, Fill::Value(pad_value));
        }
        if seen != rows || sequences.len()? != rows {
            return Err(InvalidArgumentError::new_err(format!(
                "{name} has {} rows, lengths has {rows}",
                sequences.len()?
            )));
        }
    }
    Ok(out)
}
