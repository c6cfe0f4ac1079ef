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

/// `mi_option_purge_delay` and `mi_option_purge_decommits` in mimalloc's `mi_option_t`
/// (the same indices in its 2.x and 3.x).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_OPTION_PURGE_DECOMMITS: libmimalloc_sys::mi_option_t = 5;

/// Hand freed memory back to the OS 10 ms after it is freed, as a reset (`MADV_FREE`: the
/// kernel takes the pages when it needs them) rather than a decommit. A decommitted page
/// costs a fault and a zeroing (2 MiB at a time with transparent huge pages) when it is
/// used again: reading a 226 MB CSV file, decommits made 78,000 page faults and twice the
/// system time. mimalloc 3's default delay (1 s) kept ~100 MiB of freed batches resident
/// while streaming a large Parquet file. `MIMALLOC_PURGE_DELAY` and
/// `MIMALLOC_PURGE_DECOMMITS` still decide if set.
fn tune_allocator() {
    for (variable, option, value) in [
        ("MIMALLOC_PURGE_DELAY", MI_OPTION_PURGE_DELAY, 10),
        ("MIMALLOC_PURGE_DECOMMITS", MI_OPTION_PURGE_DECOMMITS, 0),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: sets one integer option; mimalloc reads its options atomically.
            unsafe { libmimalloc_sys::mi_option_set(option, value) }
        }
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
