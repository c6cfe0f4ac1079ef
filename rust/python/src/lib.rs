//! `fast_axolotl._native`: thin PyO3 bindings over `fast_axolotl_core`.
//!
//! Each function extracts its inputs while attached to the interpreter, runs the
//! core kernel with the GIL released (`errors::detached`), and converts the result
//! to numpy/Arrow. No logic lives here; `_native.pyi` is the checked contract.

mod errors;
mod hashing;
mod inputs;
mod packing;
mod padding;
mod reading;

use pyo3::prelude::*;

/// mimalloc with its own settings: freed memory goes back to the OS after 1 s unused
/// (`MIMALLOC_PURGE_DELAY`, ms), so the buffers of dropped batches are reused by the next
/// ones instead of being faulted in and zeroed again. (A 10 ms delay made reading a 1.2 GB
/// Parquet file in 65,536-row batches 2x slower, the page faults 10x more.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Two int64 arrays, e.g. `(values, offsets)` or `(indices, bin_offsets)`.
pub type Int64Pair<'py> = (
    Bound<'py, numpy::PyArray1<i64>>,
    Bound<'py, numpy::PyArray1<i64>>,
);

#[pyfunction]
fn thread_count() -> usize {
    fast_axolotl_core::pool::default_threads()
}

/// Test hook (not public API): panic inside native code on purpose, to prove the boundary
/// turns an escaped panic into `InternalError` instead of aborting the interpreter.
/// `kind`: "explicit" (a `panic!`), "overflow" (an integer overflow: panics only because
/// the release profile keeps `overflow-checks = true`), "pool" (a panic in a rayon worker).
#[pyfunction]
fn _raise_panic_for_tests(py: Python<'_>, kind: &str) -> PyResult<u64> {
    let kind = kind.to_string();
    errors::detached(py, move || match kind.as_str() {
        "explicit" => panic!("deliberate panic for tests"),
        "overflow" => {
            let x: u64 = std::hint::black_box(u64::MAX);
            Ok(x + std::hint::black_box(1))
        }
        "pool" => fast_axolotl_core::pool::install(|| {
            rayon::join(|| (), || panic!("deliberate panic in a pool worker"));
            0
        }),
        other => Err(fast_axolotl_core::Error::invalid(format!(
            "unknown panic kind {other:?}"
        ))),
    })
}

#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(thread_count, m)?)?;
    m.add_function(wrap_pyfunction!(_raise_panic_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(hashing::hash_rows, m)?)?;
    m.add_function(wrap_pyfunction!(hashing::dedup_rows, m)?)?;
    m.add_function(wrap_pyfunction!(hashing::hash_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(hashing::select_unique, m)?)?;
    m.add_class::<hashing::DigestSet>()?;
    m.add_function(wrap_pyfunction!(packing::pack_sequences, m)?)?;
    m.add_function(wrap_pyfunction!(packing::concatenate_and_pack, m)?)?;
    m.add_function(wrap_pyfunction!(packing::pack_bins, m)?)?;
    m.add_function(wrap_pyfunction!(packing::split_lists, m)?)?;
    m.add_function(wrap_pyfunction!(padding::pad_block, m)?)?;
    m.add_function(wrap_pyfunction!(inputs::ragged_from_lists, m)?)?;
    m.add_function(wrap_pyfunction!(inputs::list_lengths, m)?)?;
    m.add_function(wrap_pyfunction!(padding::pad_lists, m)?)?;
    reading::register(m)?;
    Ok(())
}
