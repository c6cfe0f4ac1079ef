//! Shared harness of the fuzz targets: the readers take paths, so each input is written to a
//! per-process file (in memory-backed /dev/shm when there is one) and read to the end.

use std::path::PathBuf;
use std::sync::OnceLock;

use fast_axolotl_core::read::{Compression, Format, ReadOptions, Reader};

/// A per-process scratch file (in /dev/shm when there is one).
pub fn scratch(suffix: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        }
    });
    dir.join(format!("fast-axolotl-fuzz-{}.{suffix}", std::process::id()))
}

/// Read `data` as `format` to the end (batch size and skip mode taken from `knobs`).
/// Any `Err` is fine; a panic, hang or crash is a finding.
pub fn read_all(data: &[u8], format: Format, compression: Option<Compression>, knobs: u8) {
    allow_caught_panics();
    let threads_before = threads();
    let path = scratch("input");
    std::fs::write(&path, data).expect("scratch file");
    let options = ReadOptions {
        format,
        compression,
        batch_size: 1 + (knobs as usize % 7) * 5,
        columns: None,
        skip_bad: knobs & 0x80 != 0,
        // One thread, or the pool's read-ahead (parallel decode of chunks and row groups).
        num_threads: if knobs & 0x40 != 0 { 2 } else { 1 },
        row_groups: None,
    };
    let mut reader = Reader::new(vec![path.display().to_string()], options).expect("valid options");
    let _ = reader.schema();
    for _ in 0..100_000 {
        match reader.next_batch() {
            Ok(Some(batch)) => {
                // Whatever was decoded must also be hashable (the row encoding handles every type the
                // readers produce) or be refused with an error.
                let _ = fast_axolotl_core::rowcodec::encode_batch(&batch);
            }
            Ok(None) | Err(_) => break,
        }
    }
    let _ = std::fs::remove_file(&path);
    drop(reader);
    wait_for_threads(threads_before);
}

/// The process's thread count (Linux; None elsewhere).
fn threads() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Threads:"))?;
    line["Threads:".len()..].trim().parse().ok()
}

/// Wait (at most 2 s) until the threads started while reading have ended. Compressed input is
/// decompressed on a detached thread of the product (`read/input.rs`, `Threaded`), which ends
/// shortly after the reader is dropped; if the target returns first, libFuzzer sees more
/// allocations than frees and runs LeakSanitizer while that thread is still being created or is
/// exiting, and LSan reports its spawn closure (64 bytes) or its thread-local destructor record
/// (32 bytes, `__cxa_thread_atexit_impl`) as leaked. A thread that stays (the shared pool, made
/// once) costs one 2 s wait.
fn wait_for_threads(before: Option<usize>) {
    let Some(before) = before else { return };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while threads().is_some_and(|n| n > before) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_micros(50));
    }
}

/// Split the first byte off as knobs.
pub fn knobs(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((k, rest)) => (*k, rest),
        None => (0, data),
    }
}

/// libfuzzer-sys installs a panic hook that aborts on every panic, even one the code under
/// test catches on purpose (the readers turn a third-party decoder's panic into a
/// DataFormatError). Keep only Rust's default hook: a panic that escapes the target still
/// reaches libfuzzer-sys's catch_unwind and is reported as a crash.
pub fn allow_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = std::panic::take_hook(); // libfuzzer-sys's aborting hook
        std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
    });
}
