//! Bindings: greedy token packing and multipack bins.

use fast_axolotl_core::pack::{self, Overflow, PackInput, Packed, Ragged};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::{interruptible, CoreError};

fn ragged<'a>(values: &'a [i64], offsets: &'a [i64]) -> PyResult<Ragged<'a>> {
    Ragged::new(values, offsets).map_err(|e| CoreError(e).into())
}

fn overflow(name: &str) -> PyResult<Overflow> {
    Overflow::parse(name).map_err(|e| CoreError(e).into())
}

fn to_dict<'py>(py: Python<'py>, packed: Packed, width: usize) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let rows = packed.rows;
    out.set_item(
        "input_ids",
        PyArray1::from_vec(py, packed.input_ids).reshape([rows, width])?,
    )?;
    out.set_item(
        "labels",
        PyArray1::from_vec(py, packed.labels).reshape([rows, width])?,
    )?;
    out.set_item(
        "attention_mask",
        PyArray1::from_vec(py, packed.attention_mask).reshape([rows, width])?,
    )?;
    if let Some(pos) = packed.position_ids {
        out.set_item(
            "position_ids",
            PyArray1::from_vec(py, pos).reshape([rows, width])?,
        )?;
    }
    out.set_item("seq_lens", PyArray1::from_vec(py, packed.seq_lens))?;
    out.set_item("row_splits", PyArray1::from_vec(py, packed.row_splits))?;
    Ok(out)
}

#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn pack_sequences<'py>(
    py: Python<'py>,
    values: PyReadonlyArray1<'py, i64>,
    offsets: PyReadonlyArray1<'py, i64>,
    max_length: usize,
    pad_token_id: i64,
    eos_token_id: i64,
    label_pad_id: i64,
    overflow: &str,
    with_position_ids: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let input = PackInput {
        ids: ragged(values.as_slice()?, offsets.as_slice()?)?,
        labels: None,
        mask: None,
        separator: Some((eos_token_id, pad_token_id)),
        max_length,
        pad_token_id,
        label_pad_id,
        overflow: self::overflow(overflow)?,
        with_position_ids,
    };
    let size = input.ids.values.len().max(input.ids.len());
    let packed = interruptible(py, size, || pack::pack(&input, 0))?;
    to_dict(py, packed, max_length)
}

#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn concatenate_and_pack<'py>(
    py: Python<'py>,
    ids_values: PyReadonlyArray1<'py, i64>,
    labels_values: PyReadonlyArray1<'py, i64>,
    mask_values: PyReadonlyArray1<'py, i64>,
    offsets: PyReadonlyArray1<'py, i64>,
    max_length: usize,
    pad_token_id: i64,
    label_pad_id: i64,
    overflow: &str,
    with_position_ids: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let input = PackInput {
        ids: ragged(ids_values.as_slice()?, offsets.as_slice()?)?,
        labels: Some(labels_values.as_slice()?),
        mask: Some(mask_values.as_slice()?),
        separator: None,
        max_length,
        pad_token_id,
        label_pad_id,
        overflow: self::overflow(overflow)?,
        with_position_ids,
    };
    let size = input.ids.values.len().max(input.ids.len());
    let packed = interruptible(py, size, || pack::pack(&input, 0))?;
    to_dict(py, packed, max_length)
}

#[pyfunction]
pub fn pack_bins<'py>(
    py: Python<'py>,
    lengths: PyReadonlyArray1<'py, i64>,
    capacity: i64,
    bin_size: u64,
    group_size: usize,
    sequential: bool,
    num_threads: usize,
) -> PyResult<crate::Int64Pair<'py>> {
    let lengths = lengths.as_slice()?;
    let bins = interruptible(py, lengths.len().saturating_mul(64), || {
        pack::pack_bins(
            lengths,
            capacity,
            bin_size,
            group_size,
            sequential,
            num_threads,
        )
    })?;
    Ok((
        PyArray1::from_vec(py, bins.indices),
        PyArray1::from_vec(py, bins.offsets),
    ))
}

/// `[indices[offsets[k]:offsets[k+1]] for k ...]` as Python lists, built here in one pass
/// (slicing a 1M-item list into ~250k lists costs far more in Python than the packing).
#[pyfunction]
pub fn split_lists<'py>(
    py: Python<'py>,
    indices: PyReadonlyArray1<'py, i64>,
    offsets: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyList>> {
    let values = indices.as_slice()?;
    let parts = ragged(values, offsets.as_slice()?)?;
    let out = PyList::empty(py);
    for k in 0..parts.len() {
        let (start, end) = parts.range(k);
        out.append(PyList::new(py, &values[start..end])?)?;
    }
    Ok(out)
}
