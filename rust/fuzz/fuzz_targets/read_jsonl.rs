#![no_main]
//! The jsonl reader on arbitrary bytes (first byte: batch size and skip mode).

use fast_axolotl_core::read::Format;
use fast_axolotl_fuzz::{knobs, read_all};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (k, rest) = knobs(data);
    read_all(rest, Format::Jsonl, None, k);
});
