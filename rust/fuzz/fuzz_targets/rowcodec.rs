#![no_main]
//! The row encoding (what dedup hashes) on arbitrary Arrow data: the input is decoded as an
//! IPC stream (seeded with tables of every supported type); each decoded batch is encoded
//! and hashed. Unsupported types must be refused with an error, never a panic.

use std::io::Cursor;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use fast_axolotl_core::rowcodec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fast_axolotl_fuzz::allow_caught_panics();
    let Ok(reader) = StreamReader::try_new(Cursor::new(data), None) else {
        return;
    };
    // arrow-ipc itself may panic on a malformed message (the product's reader turns that into
    // a DataFormatError, see read_ipc); the row encoding is what is fuzzed here.
    let Ok(batches) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        reader.take(64).filter_map(|b| b.ok()).collect::<Vec<RecordBatch>>()
    })) else {
        return;
    };
    for batch in &batches {
        // Arrow's own validation first: the kernels receive validated arrays from Python.
        if batch.columns().iter().any(|c| c.to_data().validate_full().is_err()) {
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
