//! Bindings: SHA-256 of str/bytes rows, Arrow row hashing, digest selection.

use std::collections::HashSet;

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::RecordBatch;
use fast_axolotl_core::hash::{self, Digest32};
use fast_axolotl_core::{rowcodec, Error};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule, PyList, PySet, PyString};

use crate::errors::{detached, interruptible, ArgumentTypeError, CoreError, Pauses};

/// The rows as Python objects, checked to be str or bytes. Holding them keeps their
/// buffers alive, so [`row_bytes`] can lend those buffers to detached work: nothing
/// is copied (a str's UTF-8 form is cached inside the object by CPython).
fn own_rows<'py>(rows: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let mut owned = Vec::with_capacity(rows.len().unwrap_or(0));
    let mut pauses = Pauses::new();
    for (index, row) in rows.try_iter()?.enumerate() {
        pauses.tick(rows.py())?;
        let row = row?;
        if !(row.is_instance_of::<PyString>() || row.is_instance_of::<PyBytes>()) {
            return Err(ArgumentTypeError::new_err(format!(
                "rows[{index}] must be str or bytes, got {}",
                row.get_type().name()?
            )));
        }
        owned.push(row);
    }
    Ok(owned)
}

/// The rows' bytes (a str's UTF-8 form is computed once and cached by CPython: for
/// non-ASCII text this is the costly step, so it pauses too).
fn row_bytes<'a>(py: Python<'_>, owned: &'a [Bound<'_, PyAny>]) -> PyResult<Vec<&'a [u8]>> {
    let mut pauses = Pauses::new();
    owned
        .iter()
        .map(|row| {
            pauses.tick(py)?;
            match row.cast::<PyString>() {
                Ok(s) => Ok(s.to_str()?.as_bytes()),
                Err(_) => Ok(row.cast::<PyBytes>()?.as_bytes()),
            }
        })
        .collect()
}

/// The digests as a list of hex `str`s, built with pauses (200k strings take ~30 ms).
fn hex_list<'py, 'a>(
    py: Python<'py>,
    digests: impl Iterator<Item = &'a Digest32>,
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    let mut pauses = Pauses::new();
    for digest in digests {
        pauses.tick(py)?;
        list.append(PyString::new(py, &hash::to_hex(digest)))?;
    }
    Ok(list)
}

#[pyfunction]
pub fn hash_rows<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyAny>,
    num_threads: usize,
) -> PyResult<Bound<'py, PyList>> {
    let owned = own_rows(rows)?;
    let slices = row_bytes(py, &owned)?;
    let bytes: usize = slices.iter().map(|s| s.len()).sum();
    let digests = interruptible(py, bytes, || hash::hash_slices(&slices, num_threads))?;
    hex_list(py, digests.iter())
}

#[pyfunction]
pub fn dedup_rows<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyAny>,
    existing: &Bound<'py, PyAny>,
    num_threads: usize,
) -> PyResult<(Vec<usize>, Bound<'py, PyList>)> {
    let owned = own_rows(rows)?;
    let slices = row_bytes(py, &owned)?;
    let mut known: HashSet<Digest32> = HashSet::new();
    let mut pauses = Pauses::new();
    for item in existing.try_iter()? {
        pauses.tick(py)?;
        let text: String = item?.extract()?;
        // A string that is not a lowercase hex SHA-256 can never equal one of ours
        // (the comparison is exact, as in the reference: no case folding).
        if let Some(d) = parse_hex(&text) {
            known.insert(d);
        }
    }
    let bytes: usize = slices.iter().map(|s| s.len()).sum();
    let (digests, kept) = interruptible(py, bytes, || {
        let digests = hash::hash_slices(&slices, num_threads)?;
        let kept = hash::first_unseen(&digests, &known);
        Ok((digests, kept))
    })?;
    let hexes = hex_list(py, kept.iter().map(|&i| &digests[i]))?;
    Ok((kept, hexes))
}

fn parse_hex(text: &str) -> Option<Digest32> {
    if text.len() != 64
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Import every batch of an object implementing the Arrow PyCapsule stream protocol.
pub fn import_stream(obj: &Bound<'_, PyAny>) -> PyResult<Vec<RecordBatch>> {
    let capsule = obj.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let pointer = capsule.pointer_checked(Some(c"arrow_array_stream"))?;
    // SAFETY: the capsule holds an ArrowArrayStream (checked by name); from_raw moves it
    // out and leaves a released stream behind, which the capsule destructor ignores.
    let stream = unsafe { FFI_ArrowArrayStream::from_raw(pointer.as_ptr().cast()) };
    let reader = RecordBatchStreamReader::try_new(stream)
        .map_err(|e| CoreError(Error::invalid(format!("cannot import Arrow stream: {e}"))))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CoreError(Error::invalid(format!("cannot import Arrow stream: {e}"))).into())
}

#[pyfunction]
pub fn hash_arrow<'py>(
    py: Python<'py>,
    table: &Bound<'py, PyAny>,
    num_threads: usize,
) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let batches = import_stream(table)?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    // The digests go straight into the numpy array that is returned.
    let digests = PyArray2::<u8>::zeros(py, [rows, 32], false);
    {
        let mut rw = digests.readwrite();
        let out = rw.as_slice_mut()?;
        // Work size: ~256 encoded bytes per row is typical of chat/instruction rows.
        interruptible(py, rows.saturating_mul(256), || {
            rowcodec::hash_batches(&batches, out, num_threads)
        })?;
    }
    Ok(digests)
}

#[pyfunction]
pub fn select_unique<'py>(
    py: Python<'py>,
    digests: PyReadonlyArray2<'py, u8>,
    seen: &Bound<'py, PySet>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    if digests.shape()[1] != 32 {
        return Err(CoreError(Error::invalid("digests must have shape (n, 32)")).into());
    }
    let flat = digests.as_slice()?;
    // SAFETY: `[u8; 32]` has alignment 1 and `flat` holds `flat.len() / 32` of them
    // (shape (n, 32), C-contiguous as `as_slice` checked); the borrow of `digests` outlives it.
    let rows: &[Digest32] =
        unsafe { std::slice::from_raw_parts(flat.as_ptr().cast::<Digest32>(), flat.len() / 32) };
    // In-batch first occurrences, detached; then the checks against `seen`.
    let candidates = detached(py, || Ok(hash::first_unseen(rows, &HashSet::new())))?;
    let mut kept = Vec::with_capacity(candidates.len());
    // Candidates are distinct: with `seen` empty at the start, each one is new.
    let fresh = seen.is_empty();
    for i in candidates {
        let key = PyBytes::new(py, &rows[i]);
        if fresh || !seen.contains(&key)? {
            seen.add(key)?;
            kept.push(i as i64);
        }
    }
    Ok(PyArray1::from_vec(py, kept))
}

/// A growing set of 16-byte digest prefixes (see `fast_axolotl_core::hash::PrefixSet`).
#[pyclass(module = "fast_axolotl._native")]
#[derive(Default)]
pub struct DigestSet {
    inner: hash::PrefixSet,
}

fn digest_rows(digests: &PyReadonlyArray2<'_, u8>) -> PyResult<Vec<Digest32>> {
    if digests.shape()[1] != 32 {
        return Err(CoreError(Error::invalid("digests must have shape (n, 32)")).into());
    }
    Ok(digests
        .as_slice()?
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32 bytes"))
        .collect())
}

#[pymethods]
impl DigestSet {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Indices of the rows whose digest was not seen before; they are remembered.
    fn insert_new<'py>(
        &mut self,
        py: Python<'py>,
        digests: PyReadonlyArray2<'py, u8>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let rows = digest_rows(&digests)?;
        let inner = &mut self.inner;
        let kept = detached(py, || Ok(inner.insert_new(&rows)))?;
        Ok(PyArray1::from_vec(
            py,
            kept.into_iter().map(|i| i as i64).collect(),
        ))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, digest: &[u8]) -> bool {
        <&Digest32>::try_from(digest).is_ok_and(|d| self.inner.contains(d))
    }
}
