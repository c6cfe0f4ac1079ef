//! Bindings: greedy token packing and multipack bins.

use fast_axolotl_core::pack::{self, Overflow, PackInput, PackOut, Ragged};
use numpy::{PyArray1, PyArray3, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::{interruptible, CoreError};

fn ragged<'a>(values: &'a [i64], offsets: &'a [i64]) -> PyResult<Ragged<'a>> {
    Ragged::new(values, offsets).map_err(|e| CoreError(e).into())
}

fn overflow(name: &str) -> PyResult<Overflow> {
    Overflow::parse(name).map_err(|e| CoreError(e).into())
}

fn pack_into<'py>(py: Python<'py>, input: &PackInput<'_>) -> PyResult<Bound<'py, PyDict>> {
    let plan = interruptible(py, input.ids.len(), || pack::plan(input))?;
    let (rows, width) = (plan.rows(), input.max_length);
    let names: &[&str] = if input.with_position_ids {
        &["input_ids", "labels", "attention_mask", "position_ids"]
    } else {
        &["input_ids", "labels", "attention_mask"]
    };
    // One numpy allocation for all outputs, each a `(rows, width)` view of it: one large
    // block is reused by malloc from call to call where several would be returned to the
    // OS and faulted in again. Not zeroed (a memset as large as the output):
    // SAFETY: `fill` writes every element of every row (padding included) before the
    // block reaches Python; on an error (or a cancel) the block is dropped unseen.
    let block = unsafe { PyArray3::<i64>::new(py, [names.len(), rows, width], false) };
    {
        let mut rw = block.readwrite();
        let all = rw.as_slice_mut()?;
        let size = rows * width;
        let (input_ids, rest) = all.split_at_mut(size);
        let (labels, rest) = rest.split_at_mut(size);
        let (attention_mask, rest) = rest.split_at_mut(size);
        let out = PackOut {
            input_ids,
            labels,
            attention_mask,
            position_ids: input.with_position_ids.then_some(rest),
        };
        let size = rows.saturating_mul(width);
        interruptible(py, size, || pack::fill(input, &plan, out, 0))?;
    }
    let dict = PyDict::new(py);
    for (k, name) in names.iter().enumerate() {
        dict.set_item(name, block.get_item(k)?)?;
    }
    dict.set_item("seq_lens", PyArray1::from_vec(py, plan.seq_lens()))?;
    dict.set_item("row_splits", PyArray1::from_slice(py, plan.row_splits()))?;
    Ok(dict)
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
    pack_into(py, &input)
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
    pack_into(py, &input)
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
    let indices = PyArray1::<i64>::zeros(py, lengths.len(), false);
    let offsets = {
        let mut rw = indices.readwrite();
        let out = rw.as_slice_mut()?;
        interruptible(py, lengths.len().saturating_mul(64), || {
            pack::pack_bins_into(
                lengths,
                capacity,
                bin_size,
                group_size,
                sequential,
                num_threads,
                out,
            )
        })?
    };
    Ok((indices, PyArray1::from_vec(py, offsets)))
}

/// Turns the cyclic garbage collector off for a scope: building a few hundred
/// thousand lists would otherwise trigger repeated full collections that scan
/// every object (2-3x the cost of building them), although none can be garbage.
struct GcPause(bool);

impl GcPause {
    fn new() -> Self {
        // SAFETY: plain C-API calls, made with the GIL held (we are attached).
        GcPause(unsafe { pyo3::ffi::PyGC_Disable() } != 0)
    }
}

impl Drop for GcPause {
    fn drop(&mut self) {
        if self.0 {
            // SAFETY: as above; still attached (the guard never crosses a detach).
            unsafe { pyo3::ffi::PyGC_Enable() };
        }
    }
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
    let _pause = GcPause::new();
    let out = PyList::empty(py);
    for k in 0..parts.len() {
        let (start, end) = parts.range(k);
        out.append(PyList::new(py, &values[start..end])?)?;
    }
    Ok(out)
}
