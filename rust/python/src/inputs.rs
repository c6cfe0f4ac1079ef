//! Binding: flatten a Python list of integer lists into `(values, offsets)` int64 arrays.
//! Reading the ints here, once, is what keeps list inputs from costing more than the work.

use numpy::PyArray1;
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList, PyTuple};

use crate::errors::{ArgumentTypeError, InvalidArgumentError};

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

/// Append the ints of an exact `list` to `values`; `Ok(false)` when an item is not an
/// exact `int` (the caller then takes the general path for the whole row).
fn exact_int_list(seq: &Bound<'_, PyAny>, values: &mut Vec<i64>) -> PyResult<bool> {
    use pyo3::ffi;
    let Ok(list) = seq.cast::<PyList>() else {
        return Ok(false);
    };
    if !seq.is_exact_instance_of::<PyList>() {
        return Ok(false);
    }
    let start = values.len();
    let n = list.len();
    values.reserve(n);
    for k in 0..n {
        // SAFETY: `list` is a live exact list we hold a reference to; `k < len`, and no
        // Python code runs between the size check and the reads (the GIL is held and
        // PyLong_AsLongLong on an exact int runs no Python code), so the borrowed item
        // stays valid while used.
        let value = unsafe {
            let item = ffi::PyList_GetItem(list.as_ptr(), k as ffi::Py_ssize_t);
            if item.is_null() || ffi::Py_TYPE(item) != std::ptr::addr_of_mut!(ffi::PyLong_Type) {
                ffi::PyErr_Clear();
                values.truncate(start);
                return Ok(false);
            }
            ffi::PyLong_AsLongLong(item)
        };
        if value == -1 && PyErr::occurred(seq.py()) {
            // Overflow: let the general path build the precise error.
            let _ = PyErr::take(seq.py());
            values.truncate(start);
            return Ok(false);
        }
        values.push(value);
    }
    Ok(true)
}

/// `None` when a row is not a list or tuple: the caller then takes its general path.
#[pyfunction]
pub fn ragged_from_lists<'py>(
    py: Python<'py>,
    sequences: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<Option<crate::Int64Pair<'py>>> {
    let mut values: Vec<i64> = Vec::new();
    let mut offsets: Vec<i64> = vec![0];
    for (row, seq) in sequences.try_iter()?.enumerate() {
        let seq = seq?;
        if !(seq.is_instance_of::<PyList>() || seq.is_instance_of::<PyTuple>()) {
            return Ok(None);
        }
        if exact_int_list(&seq, &mut values)? {
            offsets.push(values.len() as i64);
            continue;
        }
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
        offsets.push(values.len() as i64);
    }
    Ok(Some((
        PyArray1::from_vec(py, values),
        PyArray1::from_vec(py, offsets),
    )))
}
