//! Shared harness of the fuzz targets: the readers take paths, so each input is written to a
//! per-process file (in memory-backed /dev/shm when there is one) and read to the end.

use std::path::PathBuf;
use std::sync::OnceLock;

use fast_axolotl_core::read::{Compression, Format, ReadOptions, Reader};

fn scratch(suffix: &str) -> PathBuf {
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
