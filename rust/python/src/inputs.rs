//! Binding: flatten a Python list of integer lists into `(values, offsets)` int64 arrays.
//! Reading the ints here, once, is what keeps list inputs from costing more than the work.

use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList, PyTuple};

use crate::errors::{ArgumentTypeError, InvalidArgumentError, Pauses};

fn element(value: &Bound<'_, PyAny>, name: &str, row: usize) -> PyResult<i64> {
    // Python and numpy bools (both named "bool"/"bool_") are rejected, as in the reference.
    let type_name = value.get_type().name()?;
    if type_name == "bool" || type_name == "bool_" {
        return Err(ArgumentTypeError::new_err(format!(
            "{name}[{row}] holds a bool; token ids must be ints"
        )));
    }
    // `extract::<i64>` goes through `__index__` (numpy ints), like `operator.index`.
    value.extract::<i64>().map_err(|e| {
        if e.is_instance_of::<PyOverflowError>(value.py()) {
            InvalidArgumentError::new_err(format!(
                "{name}[{row}] holds {value}, which does not fit in int64"
            ))
        } else {
            ArgumentTypeError::new_err(format!(
                "{name}[{row}] holds {type_name} {value}; expected int"
            ))
        }
    })
}

/// Write the ints of an exact `list` into `out` (which has exactly its length);
/// `Ok(false)` when an item is not an exact `int` that fits int64 (the caller then
/// takes the general path for the whole row).
fn exact_int_list(seq: &Bound<'_, PyAny>, out: &mut [i64]) -> PyResult<bool> {
    use pyo3::ffi;
    if !seq.is_exact_instance_of::<PyList>() {
        return Ok(false);
    }
    let list = seq.cast::<PyList>()?;
    if list.len() != out.len() {
        return Ok(false); // resized since it was measured: the general path reports it
    }
    for (k, slot) in out.iter_mut().enumerate() {
        // SAFETY: `list` is a live exact list we hold a reference to; `k < len`, and no
        // Python code runs between the size check and the reads (the GIL is held and
        // PyLong_AsLongLong on an exact int runs no Python code), so the borrowed item
        // stays valid while used.
        let value = unsafe {
            let item = ffi::PyList_GetItem(list.as_ptr(), k as ffi::Py_ssize_t);
            if item.is_null() || ffi::Py_TYPE(item) != std::ptr::addr_of_mut!(ffi::PyLong_Type) {
                ffi::PyErr_Clear();
                return Ok(false);
            }
            ffi::PyLong_AsLongLong(item)
        };
        if value == -1 && PyErr::occurred(seq.py()) {
            // Overflow: let the general path build the precise error.
            let _ = PyErr::take(seq.py());
            return Ok(false);
        }
        *slot = value;
    }
    Ok(true)
}

/// Any list or tuple of ints (numpy ints included, bools rejected), item by item.
fn general_row(seq: &Bound<'_, PyAny>, name: &str, row: usize, out: &mut [i64]) -> PyResult<()> {
    let mut values = Vec::with_capacity(out.len());
    for item in seq.try_iter()? {
        let item = item?;
        // Fast path: an exact Python int (the overwhelmingly common case).
        let value = if item.is_exact_instance_of::<PyInt>() {
            item.extract::<i64>().map_err(|_| {
                InvalidArgumentError::new_err(format!(
                    "{name}[{row}] holds {item}, which does not fit in int64"
                ))
            })?
        } else {
            element(&item, name, row)?
        };
        values.push(value);
    }
    if values.len() != out.len() {
        // Only possible if an item's __index__ resized a row while we read.
        return Err(InvalidArgumentError::new_err(format!(
            "{name}[{row}] changed size while it was read"
        )));
    }
    out.copy_from_slice(&values);
    Ok(())
}

/// The ints of one list or tuple row into `out`, which has the length it was measured at.
pub fn read_row(seq: &Bound<'_, PyAny>, name: &str, row: usize, out: &mut [i64]) -> PyResult<()> {
    if !exact_int_list(seq, out)? {
        general_row(seq, name, row, out)?;
    }
    Ok(())
}

/// The length of every row when each is a list or tuple, else `None` (the caller then
/// takes its general path): the first step of padding lists without flattening them.
#[pyfunction]
pub fn list_lengths<'py>(
    py: Python<'py>,
    sequences: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyArray1<i64>>>> {
    let mut lengths: Vec<i64> = Vec::with_capacity(sequences.len().unwrap_or(0));
    let mut pauses = Pauses::new();
    for seq in sequences.try_iter()? {
        pauses.tick(py)?;
        let Some(len) = list_len(&seq?)? else {
            return Ok(None);
        };
        lengths.push(len as i64);
    }
    Ok(Some(PyArray1::from_vec(py, lengths)))
}

/// The length of a row that is a list or tuple (what the list fast paths accept), else `None`.
fn list_len(seq: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    if seq.is_instance_of::<PyList>() || seq.is_instance_of::<PyTuple>() {
        seq.len().map(Some)
    } else {
        Ok(None)
    }
}

/// `None` when a row is not a list or tuple: the caller then takes its general path.
/// Rows are measured first, so the values go straight into one numpy array of the
/// exact size (no growing vector, no copy afterwards).
#[pyfunction]
pub fn ragged_from_lists<'py>(
    py: Python<'py>,
    sequences: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<Option<crate::Int64Pair<'py>>> {
    let mut rows: Vec<Bound<'py, PyAny>> = Vec::with_capacity(sequences.len().unwrap_or(0));
    let mut offsets: Vec<i64> = Vec::with_capacity(rows.capacity() + 1);
    offsets.push(0);
    let mut total = 0usize;
    let mut pauses = Pauses::new();
    for seq in sequences.try_iter()? {
        pauses.tick(py)?;
        let seq = seq?;
        let Some(len) = list_len(&seq)? else {
            return Ok(None);
        };
        total += len;
        offsets.push(total as i64);
        rows.push(seq);
    }
    // SAFETY: the rows cover `0..total` exactly (offsets are their measured lengths) and
    // each row is written in full or the call fails and the array is dropped unseen.
    let values = unsafe { PyArray1::<i64>::new(py, total, false) };
    {
        let mut rw = values.readwrite();
        let slice = rw.as_slice_mut()?;
        for (row, seq) in rows.iter().enumerate() {
            pauses.tick(py)?;
            read_row(
                seq,
                name,
                row,
                &mut slice[offsets[row] as usize..offsets[row + 1] as usize],
            )?;
        }
    }
    Ok(Some((values, PyArray1::from_vec(py, offsets))))
}
