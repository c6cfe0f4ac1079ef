#![no_main]
//! The row encoding (what dedup hashes) on arbitrary Arrow data: the input is decoded as an
//! IPC stream (seeded with tables of every supported type) by the product's own IPC reader,
//! which checks each compressed buffer's declared size before arrow-ipc allocates it
//! (`read/ipcguard.rs`); each decoded batch is encoded and hashed. Unsupported types must be
//! refused with an error, never a panic.

use arrow_array::RecordBatch;
use fast_axolotl_core::read::{Format, ReadOptions, Reader};
use fast_axolotl_core::rowcodec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fast_axolotl_fuzz::allow_caught_panics();
    // The reader takes paths: the input goes to a per-process scratch file, as for read_ipc.
    let path = fast_axolotl_fuzz::scratch("rowcodec.arrow");
    std::fs::write(&path, data).expect("scratch file");
    let options = ReadOptions {
        format: Format::Arrow,
        compression: None,
        // Large enough that the stream's batches mostly arrive whole (several are concatenated,
        // a longer one is sliced into batches with offsets).
        batch_size: 4096,
        columns: None,
        skip_bad: false,
        num_threads: 1,
    };
    let mut reader = Reader::new(vec![path.display().to_string()], options).expect("valid options");
    // Errors are the product refusing a malformed stream; a panic escaping the reader is a
    // finding (it turns arrow-ipc's panics into errors itself).
    let mut batches: Vec<RecordBatch> = Vec::new();
    while batches.len() < 64 {
        match reader.next_batch() {
            Ok(Some(batch)) => batches.push(batch),
            Ok(None) | Err(_) => break,
        }
    }
    let _ = std::fs::remove_file(&path);
    for batch in &batches {
        // Arrow's own validation first: the kernels receive validated arrays from Python.
        if batch
            .columns()
            .iter()
            .any(|c| c.to_data().validate_full().is_err())
        {
            return;
        }
    }
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    if rows > 1 << 20 {
        // A batch without columns may declare any row count; the product allocates the
        // digests with numpy, which raises MemoryError for an impossible size.
        return;
    }
    let mut out = vec![0u8; rows * 32];
    if rowcodec::hash_batches(&batches, &mut out, 1).is_ok() {
        for batch in &batches {
            let encoded = rowcodec::encode_batch(batch).expect("hashable implies encodable");
            assert_eq!(encoded.len(), batch.num_rows());
        }
    }
});
