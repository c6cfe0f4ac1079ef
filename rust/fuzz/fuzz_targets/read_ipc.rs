#![no_main]
//! The Arrow IPC reader (file format, stream format, Feather v2) on arbitrary bytes; the
//! seed corpus holds both containers, and the reader picks by the magic bytes.

use fast_axolotl_core::read::Format;
use fast_axolotl_fuzz::{knobs, read_all};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (k, rest) = knobs(data);
    read_all(rest, Format::Arrow, None, k);
});
