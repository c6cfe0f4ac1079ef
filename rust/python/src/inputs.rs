//! Binding: flatten a Python list of integer lists into `(values, offsets)` int64 arrays.
//! Reading the ints here, once, is what keeps list inputs from costing more than the work.

use numpy::PyArray1;
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::PyInt;

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

#[pyfunction]
pub fn ragged_from_lists<'py>(
    py: Python<'py>,
    sequences: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<crate::Int64Pair<'py>> {
    let mut values: Vec<i64> = Vec::new();
    let mut offsets: Vec<i64> = vec![0];
    for (row, seq) in sequences.try_iter()?.enumerate() {
        for item in seq?.try_iter()? {
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
    Ok((
        PyArray1::from_vec(py, values),
        PyArray1::from_vec(py, offsets),
    ))
}
