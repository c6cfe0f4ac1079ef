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

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (the same index in its 2.x and 3.x).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Return freed memory to the OS 10 ms after it is freed. mimalloc 3 (what libmimalloc-sys
/// builds) waits 1 s by default, which kept ~100 MiB of freed batches resident while
/// streaming a large Parquet file; batches freed and allocated at a steady pace are reused
/// well within 10 ms. `MIMALLOC_PURGE_DELAY` still decides if set.
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option; mimalloc reads its options atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) }
    }
}

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
        "pool" => fast_axolotl_core::pool::install(2, || {
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
    tune_allocator();
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
