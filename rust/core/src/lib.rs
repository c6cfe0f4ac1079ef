//! fast-axolotl's kernels in pure Rust (no Python): row hashing, token packing,
//! multipack bin packing, padding, and the streaming file readers.
//!
//! Every fallible function returns [`Error`]; nothing here may panic on bad input.

pub mod cancel;
pub mod error;
pub mod hash;
pub mod pack;
pub mod pad;
pub mod pool;
pub mod read;
pub mod rowcodec;

pub use error::{Error, Result};
