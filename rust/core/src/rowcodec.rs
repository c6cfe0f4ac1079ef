//! The canonical, injective byte encoding of Arrow rows hashed by `hash_table`.
//!
//! It follows the Python values Hugging Face `datasets` yields for a row, so two
//! rows encode equally exactly when Axolotl's `str(row)` would be equal: integer
//! widths do not matter (all are Python `int`), `1` differs from `1.0` and `True`,
//! floats are compared by their f64 bit pattern with every NaN the same, list
//! flavours are all lists, structs are dicts. Grammar in `docs/row-encoding.md`;
//! `fast_axolotl/_fallback/rowcodec.py` is the reference.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Fields};
use rayon::prelude::*;
use std::sync::Arc;

use crate::hash::sha256;
use crate::{cancel, pool, Error, Result};

const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// A column prepared for encoding: concrete array views, no downcasts per value.
enum Col<'a> {
    Null,
    Bool(&'a arrow_array::BooleanArray),
    Signed(IntView<'a>),
    Unsigned(&'a dyn UnsignedAt),
    Float(&'a dyn FloatAt, Option<&'a NullBuffer>),
    Utf8(&'a dyn BytesAt, Option<&'a NullBuffer>),
    Binary(&'a dyn BytesAt, Option<&'a NullBuffer>),
    List {
        nulls: Option<&'a NullBuffer>,
        offsets: Offsets<'a>,
        child: Box<Col<'a>>,
    },
    Struct {
        nulls: Option<&'a NullBuffer>,
        names: Vec<&'a str>,
        children: Vec<Col<'a>>,
    },
}

enum Offsets<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
    Fixed(usize),
}

impl Offsets<'_> {
    fn range(&self, i: usize) -> (usize, usize) {
        match self {
            Offsets::I32(o) => (o[i] as usize, o[i + 1] as usize),
            Offsets::I64(o) => (o[i] as usize, o[i + 1] as usize),
            Offsets::Fixed(n) => (i * n, (i + 1) * n),
        }
    }
}

/// A signed integer column widened to i64.
struct IntView<'a> {
    array: &'a dyn SignedAt,
    nulls: Option<&'a NullBuffer>,
}

trait SignedAt: Sync {
    fn at(&self, i: usize) -> i64;
    /// The packed width of `start..end` (all valid): `width_for(min, max)`.
    fn width(&self, start: usize, end: usize) -> u8;
    /// Append `start..end` as `width`-byte little-endian signed integers (values fit).
    fn write_packed(&self, start: usize, end: usize, width: u8, out: &mut Vec<u8>);
    /// The value every item of `start..end` (non-empty, all valid) equals, if they are equal.
    fn constant(&self, start: usize, end: usize) -> Option<i64>;
}

/// Append `values` as `width`-byte little-endian integers, one tight loop per width
/// (a virtual call per list, not per token).
fn pack_into<T: arrow_buffer::ArrowNativeType>(
    values: &[T],
    width: u8,
    out: &mut Vec<u8>,
    to_i64: impl Fn(T) -> i64,
) {
    if cfg!(target_endian = "little") && width as usize == std::mem::size_of::<T>() {
        // Same width: the values' own little-endian bytes, copied in one go.
        use arrow_buffer::ToByteSlice;
        out.extend_from_slice(values.to_byte_slice());
        return;
    }
    let base = out.len();
    out.resize(base + values.len() * width as usize, 0);
    let dst = &mut out[base..];
    match width {
        1 => dst
            .iter_mut()
            .zip(values)
            .for_each(|(d, &v)| *d = to_i64(v) as i8 as u8),
        2 => dst
            .chunks_exact_mut(2)
            .zip(values)
            .for_each(|(d, &v)| d.copy_from_slice(&(to_i64(v) as i16).to_le_bytes())),
        4 => dst
            .chunks_exact_mut(4)
            .zip(values)
            .for_each(|(d, &v)| d.copy_from_slice(&(to_i64(v) as i32).to_le_bytes())),
        _ => dst
            .chunks_exact_mut(8)
            .zip(values)
            .for_each(|(d, &v)| d.copy_from_slice(&to_i64(v).to_le_bytes())),
    }
}

trait UnsignedAt: Sync {
    fn at(&self, i: usize) -> u64;
    fn is_null(&self, i: usize) -> bool;
    /// Append `start..end` as `width`-byte little-endian integers (all <= i64::MAX).
    fn write_packed(&self, start: usize, end: usize, width: u8, out: &mut Vec<u8>);
    fn max(&self, start: usize, end: usize) -> u64;
    /// As [`SignedAt::constant`].
    fn constant(&self, start: usize, end: usize) -> Option<u64>;
}

trait FloatAt: Sync {
    fn at(&self, i: usize) -> f64;
}

trait BytesAt: Sync {
    fn bytes(&self, i: usize) -> &[u8];
}

/// The width `width_for` gives for values whose magnitudes OR to `bits`.
///
/// `v ^ (v >> (BITS - 1))` is `v` for `v >= 0` and `-v - 1` for `v < 0`, and `v` fits a
/// signed `k`-bit integer exactly when that is below `2^(k-1)`. So the OR of every value's
/// magnitude decides the same width as the minimum and maximum do, in one pass that
/// vectorizes in the column's own type (no widening to i64 per value).
fn width_of_magnitudes(bits: u64) -> u8 {
    if bits < 1 << 7 {
        1
    } else if bits < 1 << 15 {
        2
    } else if bits < 1 << 31 {
        4
    } else {
        8
    }
}

macro_rules! signed_at {
    ($t:ty, $native:ty, $unsigned:ty) => {
        impl SignedAt for arrow_array::PrimitiveArray<$t> {
            fn at(&self, i: usize) -> i64 {
                self.value(i) as i64
            }
            fn width(&self, start: usize, end: usize) -> u8 {
                let bits = self.values()[start..end]
                    .iter()
                    .fold(0 as $unsigned, |acc, &v| {
                        acc | (v ^ (v >> (<$native>::BITS - 1))) as $unsigned
                    });
                width_of_magnitudes(bits as u64)
            }
            fn write_packed(&self, start: usize, end: usize, width: u8, out: &mut Vec<u8>) {
                pack_into(&self.values()[start..end], width, out, |v| v as i64);
            }
            fn constant(&self, start: usize, end: usize) -> Option<i64> {
                let values = &self.values()[start..end];
                let first = values[0];
                values.iter().all(|&v| v == first).then_some(first as i64)
            }
        }
    };
}
signed_at!(Int8Type, i8, u8);
signed_at!(Int16Type, i16, u16);
signed_at!(Int32Type, i32, u32);
signed_at!(Int64Type, i64, u64);

macro_rules! unsigned_at {
    ($t:ty) => {
        impl UnsignedAt for arrow_array::PrimitiveArray<$t> {
            fn at(&self, i: usize) -> u64 {
                self.value(i) as u64
            }
            fn is_null(&self, i: usize) -> bool {
                Array::is_null(self, i)
            }
            fn write_packed(&self, start: usize, end: usize, width: u8, out: &mut Vec<u8>) {
                pack_into(&self.values()[start..end], width, out, |v| v as i64);
            }
            fn max(&self, start: usize, end: usize) -> u64 {
                // In the column's own type (vectorizes), widened once.
                self.values()[start..end]
                    .iter()
                    .fold(0, |acc, &v| acc.max(v)) as u64
            }
            fn constant(&self, start: usize, end: usize) -> Option<u64> {
                let values = &self.values()[start..end];
                let first = values[0];
                values.iter().all(|&v| v == first).then_some(first as u64)
            }
        }
    };
}
unsigned_at!(UInt8Type);
unsigned_at!(UInt16Type);
unsigned_at!(UInt32Type);
unsigned_at!(UInt64Type);

impl FloatAt for arrow_array::PrimitiveArray<Float16Type> {
    fn at(&self, i: usize) -> f64 {
        self.value(i).to_f64()
    }
}
impl FloatAt for arrow_array::PrimitiveArray<Float32Type> {
    fn at(&self, i: usize) -> f64 {
        self.value(i) as f64
    }
}
impl FloatAt for arrow_array::PrimitiveArray<Float64Type> {
    fn at(&self, i: usize) -> f64 {
        self.value(i)
    }
}

impl<O: arrow_array::OffsetSizeTrait> BytesAt for arrow_array::GenericStringArray<O> {
    fn bytes(&self, i: usize) -> &[u8] {
        self.value(i).as_bytes()
    }
}
impl<O: arrow_array::OffsetSizeTrait> BytesAt for arrow_array::GenericBinaryArray<O> {
    fn bytes(&self, i: usize) -> &[u8] {
        self.value(i)
    }
}
impl BytesAt for arrow_array::StringViewArray {
    fn bytes(&self, i: usize) -> &[u8] {
        self.value(i).as_bytes()
    }
}
impl BytesAt for arrow_array::BinaryViewArray {
    fn bytes(&self, i: usize) -> &[u8] {
        self.value(i)
    }
}
impl BytesAt for arrow_array::FixedSizeBinaryArray {
    fn bytes(&self, i: usize) -> &[u8] {
        self.value(i)
    }
}

/// The type with every dictionary replaced by its value type (decoded before encoding).
fn without_dictionaries(data_type: &DataType) -> DataType {
    let field = |f: &Arc<Field>| {
        Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(without_dictionaries(f.data_type())),
        )
    };
    match data_type {
        DataType::Dictionary(_, value) => without_dictionaries(value),
        DataType::List(f) => DataType::List(field(f)),
        DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect::<Fields>()),
        other => other.clone(),
    }
}

/// Decode dictionaries so every column is a plain array.
pub fn prepare_column(name: &str, array: &ArrayRef) -> Result<ArrayRef> {
    check_type(name, array.data_type())?;
    let plain = without_dictionaries(array.data_type());
    if &plain == array.data_type() {
        return Ok(array.clone());
    }
    arrow_cast::cast(array, &plain).map_err(|e| {
        Error::UnsupportedType(format!("column {name:?}: cannot decode dictionary: {e}"))
    })
}

fn check_type(name: &str, data_type: &DataType) -> Result<()> {
    use DataType::*;
    match data_type {
        Null | Boolean | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
        | Float16 | Float32 | Float64 | Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary
        | BinaryView | FixedSizeBinary(_) => Ok(()),
        List(f) | LargeList(f) | FixedSizeList(f, _) => check_type(name, f.data_type()),
        Struct(fields) => fields
            .iter()
            .try_for_each(|f| check_type(name, f.data_type())),
        Dictionary(_, value) => check_type(name, value),
        other => Err(Error::UnsupportedType(format!(
            "column {name:?}: Arrow type {other} is not supported for row hashing"
        ))),
    }
}

fn view(array: &dyn Array) -> Col<'_> {
    use DataType::*;
    let nulls = array.logical_nulls_ref();
    match array.data_type() {
        Null => Col::Null,
        Boolean => Col::Bool(array.as_boolean()),
        Int8 => Col::Signed(IntView {
            array: array.as_primitive::<Int8Type>(),
            nulls,
        }),
        Int16 => Col::Signed(IntView {
            array: array.as_primitive::<Int16Type>(),
            nulls,
        }),
        Int32 => Col::Signed(IntView {
            array: array.as_primitive::<Int32Type>(),
            nulls,
        }),
        Int64 => Col::Signed(IntView {
            array: array.as_primitive::<Int64Type>(),
            nulls,
        }),
        UInt8 => Col::Unsigned(array.as_primitive::<UInt8Type>()),
        UInt16 => Col::Unsigned(array.as_primitive::<UInt16Type>()),
        UInt32 => Col::Unsigned(array.as_primitive::<UInt32Type>()),
        UInt64 => Col::Unsigned(array.as_primitive::<UInt64Type>()),
        Float16 => Col::Float(array.as_primitive::<Float16Type>(), nulls),
        Float32 => Col::Float(array.as_primitive::<Float32Type>(), nulls),
        Float64 => Col::Float(array.as_primitive::<Float64Type>(), nulls),
        Utf8 => Col::Utf8(array.as_string::<i32>(), nulls),
        LargeUtf8 => Col::Utf8(array.as_string::<i64>(), nulls),
        Utf8View => Col::Utf8(array.as_string_view(), nulls),
        Binary => Col::Binary(array.as_binary::<i32>(), nulls),
        LargeBinary => Col::Binary(array.as_binary::<i64>(), nulls),
        BinaryView => Col::Binary(array.as_binary_view(), nulls),
        FixedSizeBinary(_) => Col::Binary(array.as_fixed_size_binary(), nulls),
        List(_) => {
            let list = array.as_list::<i32>();
            Col::List {
                nulls,
                offsets: Offsets::I32(list.value_offsets()),
                child: Box::new(view(list.values().as_ref())),
            }
        }
        LargeList(_) => {
            let list = array.as_list::<i64>();
            Col::List {
                nulls,
                offsets: Offsets::I64(list.value_offsets()),
                child: Box::new(view(list.values().as_ref())),
            }
        }
        FixedSizeList(_, n) => {
            let list = array.as_fixed_size_list();
            Col::List {
                nulls,
                offsets: Offsets::Fixed(*n as usize),
                child: Box::new(view(list.values().as_ref())),
            }
        }
        Struct(fields) => {
            let s = array.as_struct();
            Col::Struct {
                nulls,
                names: fields.iter().map(|f| f.name().as_str()).collect(),
                children: s.columns().iter().map(|c| view(c.as_ref())).collect(),
            }
        }
        // prepare_column rejected or decoded everything else.
        _ => Col::Null,
    }
}

/// `logical_nulls` borrows for every type we encode (no dictionaries or unions here).
trait NullsRef {
    fn logical_nulls_ref(&self) -> Option<&NullBuffer>;
}
impl NullsRef for dyn Array + '_ {
    fn logical_nulls_ref(&self) -> Option<&NullBuffer> {
        if matches!(self.data_type(), DataType::Null) {
            None
        } else {
            self.nulls()
        }
    }
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

fn is_null(nulls: Option<&NullBuffer>, i: usize) -> bool {
    nulls.is_some_and(|n| n.is_null(i))
}

fn put_int(out: &mut Vec<u8>, v: i64) {
    out.push(b'I');
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_unsigned(out: &mut Vec<u8>, v: u64) {
    if v > i64::MAX as u64 {
        out.push(b'U');
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        put_int(out, v as i64);
    }
}

fn width_for(lo: i64, hi: i64) -> u8 {
    if lo >= i8::MIN as i64 && hi <= i8::MAX as i64 {
        1
    } else if lo >= i16::MIN as i64 && hi <= i16::MAX as i64 {
        2
    } else if lo >= i32::MIN as i64 && hi <= i32::MAX as i64 {
        4
    } else {
        8
    }
}

fn put_packed_header(out: &mut Vec<u8>, count: usize, width: u8) {
    out.push(b'J');
    put_len(out, count);
    out.push(width);
}

/// `'K' u64(count) i64(value)`: a list of `count >= 2` equal ints (attention masks).
fn put_constant(out: &mut Vec<u8>, count: usize, value: i64) {
    out.push(b'K');
    put_len(out, count);
    out.extend_from_slice(&value.to_le_bytes());
}

fn range_has_nulls(nulls: Option<&NullBuffer>, start: usize, end: usize) -> bool {
    nulls.is_some_and(|n| n.slice(start, end - start).null_count() > 0)
}

/// Encode a list of `count` values at `start..end` of `child`.
fn encode_list(out: &mut Vec<u8>, child: &Col<'_>, start: usize, end: usize) {
    let count = end - start;
    if count > 0 {
        match child {
            Col::Signed(iv) if !range_has_nulls(iv.nulls, start, end) => {
                if let Some(v) = (count > 1).then(|| iv.array.constant(start, end)).flatten() {
                    put_constant(out, count, v);
                    return;
                }
                let width = iv.array.width(start, end);
                put_packed_header(out, count, width);
                iv.array.write_packed(start, end, width, out);
                return;
            }
            Col::Unsigned(u)
                if !(start..end).any(|i| u.is_null(i)) && u.max(start, end) <= i64::MAX as u64 =>
            {
                if let Some(v) = (count > 1).then(|| u.constant(start, end)).flatten() {
                    put_constant(out, count, v as i64); // <= i64::MAX: checked above
                    return;
                }
                // Unsigned values are >= 0, so the maximum alone picks the width.
                let width = width_for(0, u.max(start, end) as i64);
                put_packed_header(out, count, width);
                u.write_packed(start, end, width, out);
                return;
            }
            _ => {}
        }
    }
    out.push(b'L');
    put_len(out, count);
    for i in start..end {
        encode_value(out, child, i);
    }
}

fn encode_value(out: &mut Vec<u8>, col: &Col<'_>, i: usize) {
    match col {
        Col::Null => out.push(b'N'),
        Col::Bool(a) => {
            if a.is_null(i) {
                out.push(b'N')
            } else {
                out.push(b'B');
                out.push(a.value(i) as u8);
            }
        }
        Col::Signed(iv) => {
            if is_null(iv.nulls, i) {
                out.push(b'N')
            } else {
                put_int(out, iv.array.at(i))
            }
        }
        Col::Unsigned(u) => {
            if u.is_null(i) {
                out.push(b'N')
            } else {
                put_unsigned(out, u.at(i))
            }
        }
        Col::Float(a, nulls) => {
            if is_null(*nulls, i) {
                out.push(b'N')
            } else {
                let v = a.at(i);
                let bits = if v.is_nan() {
                    CANONICAL_NAN
                } else {
                    v.to_bits()
                };
                out.push(b'F');
                out.extend_from_slice(&bits.to_le_bytes());
            }
        }
        Col::Utf8(a, nulls) | Col::Binary(a, nulls) => {
            if is_null(*nulls, i) {
                out.push(b'N')
            } else {
                let bytes = a.bytes(i);
                out.push(if matches!(col, Col::Utf8(..)) {
                    b'S'
                } else {
                    b'Y'
                });
                put_len(out, bytes.len());
                out.extend_from_slice(bytes);
            }
        }
        Col::List {
            nulls,
            offsets,
            child,
        } => {
            if is_null(*nulls, i) {
                out.push(b'N')
            } else {
                let (start, end) = offsets.range(i);
                encode_list(out, child, start, end);
            }
        }
        Col::Struct {
            nulls,
            names,
            children,
        } => {
            if is_null(*nulls, i) {
                out.push(b'N')
            } else {
                out.push(b'D');
                put_len(out, names.len());
                for (name, child) in names.iter().zip(children) {
                    put_len(out, name.len());
                    out.extend_from_slice(name.as_bytes());
                    encode_value(out, child, i);
                }
            }
        }
    }
}

/// Append the encoding of row `i` of the prepared columns to `out`.
fn encode_row(out: &mut Vec<u8>, names: &[&str], cols: &[Col<'_>], i: usize) {
    out.push(b'R');
    put_len(out, names.len());
    for (name, col) in names.iter().zip(cols) {
        put_len(out, name.len());
        out.extend_from_slice(name.as_bytes());
        encode_value(out, col, i);
    }
}

/// The encoding of every row of `batch` (for tests and the Python parity checks).
pub fn encode_batch(batch: &RecordBatch) -> Result<Vec<Vec<u8>>> {
    let (names, arrays) = prepared(batch)?;
    let cols: Vec<Col<'_>> = arrays.iter().map(|a| view(a.as_ref())).collect();
    Ok((0..batch.num_rows())
        .map(|i| {
            let mut out = Vec::new();
            encode_row(&mut out, &names, &cols, i);
            out
        })
        .collect())
}

fn prepared(batch: &RecordBatch) -> Result<(Vec<&str>, Vec<ArrayRef>)> {
    let schema = batch.schema_ref();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let arrays = names
        .iter()
        .zip(batch.columns())
        .map(|(name, a)| prepare_column(name, a))
        .collect::<Result<Vec<_>>>()?;
    Ok((names, arrays))
}

/// SHA-256 of every row's encoding, written to `out` (one digest per row, in order).
/// SHA-256 of every row's encoding, written into `out` (32 bytes a row, row-major:
/// the layout of a `(rows, 32)` uint8 array, so the caller's buffer is filled in place).
pub fn hash_batches(batches: &[RecordBatch], out: &mut [u8], num_threads: usize) -> Result<()> {
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    if out.len() != total * 32 {
        return Err(Error::invalid(format!(
            "output has {} bytes, batches need {}",
            out.len(),
            total * 32
        )));
    }
    let prepared_batches = batches.iter().map(prepared).collect::<Result<Vec<_>>>()?;
    // A row is hundreds of values, so a few hundred rows are enough to share out.
    let parallel = pool::parallel(num_threads, total.saturating_mul(256));
    // Chunks skipped after a cancel keep stale digests that are never seen: the call fails.
    let checker = cancel::checker();
    let mut run = || {
        let mut rest = &mut out[..];
        for (batch, (names, arrays)) in batches.iter().zip(&prepared_batches) {
            let (head, tail) = rest.split_at_mut(batch.num_rows() * 32);
            rest = tail;
            let cols: Vec<Col<'_>> = arrays.iter().map(|a| view(a.as_ref())).collect();
            let hash_chunk = |buf: &mut Vec<u8>, (chunk, digests): (usize, &mut [u8])| {
                if checker.cancelled() {
                    return;
                }
                for (k, digest) in digests.chunks_exact_mut(32).enumerate() {
                    buf.clear();
                    encode_row(buf, names, &cols, chunk * 64 + k);
                    digest.copy_from_slice(&sha256(buf));
                }
            };
            if parallel {
                let chunks = batch.num_rows().div_ceil(64);
                head.par_chunks_mut(64 * 32)
                    .enumerate()
                    .with_min_len(pool::min_len(num_threads, chunks))
                    .for_each_init(Vec::new, hash_chunk);
            } else {
                let mut buf = Vec::new();
                head.chunks_mut(64 * 32)
                    .enumerate()
                    .for_each(|item| hash_chunk(&mut buf, item));
            }
        }
    };
    if parallel {
        pool::install(run)?;
    } else {
        run();
    }
    checker.check()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int32Array, Int64Array, ListArray, StringArray};
    use arrow_schema::Schema;

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> = cols
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            cols.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    #[test]
    fn int_width_does_not_matter_but_float_does() {
        let a = batch(vec![("x", Arc::new(Int32Array::from(vec![1])) as ArrayRef)]);
        let b = batch(vec![("x", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]);
        let c = batch(vec![(
            "x",
            Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
        )]);
        assert_eq!(encode_batch(&a).unwrap(), encode_batch(&b).unwrap());
        assert_ne!(encode_batch(&a).unwrap(), encode_batch(&c).unwrap());
    }

    #[test]
    fn packed_width_equals_min_max_width() {
        let edges: Vec<i64> = [
            0,
            1,
            -1,
            127,
            128,
            -128,
            -129,
            32767,
            32768,
            -32768,
            -32769,
            i32::MAX as i64,
            i32::MAX as i64 + 1,
            i32::MIN as i64,
            i32::MIN as i64 - 1,
            i64::MAX,
            i64::MIN,
            -100,
            31999,
        ]
        .into();
        let expected = |v: &[i64]| {
            width_for(
                v.iter().copied().min().unwrap(),
                v.iter().copied().max().unwrap(),
            )
        };
        for &a in &edges {
            for &b in &edges {
                let v = [a, b];
                let w64 = Int64Array::from(v.to_vec()).width(0, 2);
                assert_eq!(w64, expected(&v), "{v:?}");
                if let (Ok(a32), Ok(b32)) = (i32::try_from(a), i32::try_from(b)) {
                    assert_eq!(Int32Array::from(vec![a32, b32]).width(0, 2), w64);
                }
                if let (Ok(a16), Ok(b16)) = (i16::try_from(a), i16::try_from(b)) {
                    let array = arrow_array::Int16Array::from(vec![a16, b16]);
                    assert_eq!(array.width(0, 2), w64);
                }
                if let (Ok(a8), Ok(b8)) = (i8::try_from(a), i8::try_from(b)) {
                    let array = arrow_array::Int8Array::from(vec![a8, b8]);
                    assert_eq!(array.width(0, 2), w64);
                }
            }
        }
        // A slice of the values: the range, not the whole array, decides.
        let a = Int64Array::from(vec![1, 300, 70_000, 5]);
        assert_eq!(a.width(1, 2), 2);
        assert_eq!(a.width(3, 4), 1);
        assert_eq!(a.width(0, 4), 4);
    }

    #[test]
    fn equal_items_take_the_constant_form_whatever_the_int_type() {
        let ones = |v: Vec<Option<i64>>| {
            let list = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(v)]);
            encode_batch(&batch(vec![("m", Arc::new(list) as ArrayRef)])).unwrap()[0].clone()
        };
        let mut expected = vec![b'R'];
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.extend_from_slice(b"m");
        expected.push(b'K');
        expected.extend_from_slice(&3u64.to_le_bytes());
        expected.extend_from_slice(&1i64.to_le_bytes());
        assert_eq!(ones(vec![Some(1); 3]), expected);
        let unsigned =
            arrow_array::ListArray::from_iter_primitive::<arrow_array::types::UInt8Type, _, _>(
                vec![Some(vec![Some(1u8); 3])],
            );
        let u = encode_batch(&batch(vec![("m", Arc::new(unsigned) as ArrayRef)])).unwrap();
        assert_eq!(u[0], expected);
        // One item, or items that differ, keep the packed form; a null keeps the general one.
        assert_eq!(ones(vec![Some(1)])[18], b'J');
        assert_eq!(ones(vec![Some(1), Some(2)])[18], b'J');
        assert_eq!(ones(vec![Some(1), None])[18], b'L');
    }

    #[test]
    fn nan_is_canonical_and_signed_zero_is_not() {
        let a = batch(vec![(
            "x",
            Arc::new(Float64Array::from(vec![f64::NAN, -f64::NAN, 0.0, -0.0])) as ArrayRef,
        )]);
        let rows = encode_batch(&a).unwrap();
        assert_eq!(rows[0], rows[1]);
        assert_ne!(rows[2], rows[3]);
    }

    #[test]
    fn packed_list_and_hash_match_encoding() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(300)]),
            Some(vec![]),
        ]);
        let b = batch(vec![
            ("ids", Arc::new(list) as ArrayRef),
            ("t", Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef),
        ]);
        let rows = encode_batch(&b).unwrap();
        let mut expected = vec![b'R'];
        expected.extend_from_slice(&2u64.to_le_bytes());
        expected.extend_from_slice(&3u64.to_le_bytes());
        expected.extend_from_slice(b"ids");
        expected.push(b'J');
        expected.extend_from_slice(&2u64.to_le_bytes());
        expected.push(2);
        expected.extend_from_slice(&1i16.to_le_bytes());
        expected.extend_from_slice(&300i16.to_le_bytes());
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.extend_from_slice(b"t");
        expected.push(b'S');
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.extend_from_slice(b"a");
        assert_eq!(rows[0], expected);
        let mut out = vec![0u8; 64];
        hash_batches(&[b], &mut out, 2).unwrap();
        assert_eq!(out[..32], sha256(&expected));
    }
}
