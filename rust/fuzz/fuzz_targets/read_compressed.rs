#![no_main]
//! gzip / zstd framing through the input layer: arbitrary bytes read as compressed text,
//! JSON Lines or (spooled) Parquet. Knob bit 0 picks the codec, bits 1-2 the format.

use fast_axolotl_core::read::{Compression, Format};
use fast_axolotl_fuzz::{knobs, read_all};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (k, rest) = knobs(data);
    let codec = if k & 1 == 0 { Compression::Gzip } else { Compression::Zstd };
    let format = match (k >> 1) & 3 {
        0 => Format::Text,
        1 => Format::Jsonl,
        2 => Format::Csv,
        _ => Format::Parquet,
    };
    read_all(rest, format, Some(codec), k);
});
