//! Typed column builders, one per inferred type, that records are decoded straight into
//! (no value tree per record). Every builder can be cut back to an earlier length: a record
//! the fast path gives up on halfway is undone, then decoded by the `serde_json` path.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, ListArray, NullArray, StringArray,
    StructArray,
};
use arrow_buffer::{BooleanBuffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::Field;

use super::parse::{Obj, J};
use super::{struct_fields, JType};

/// Which values are valid; nothing is stored until the first null (token columns have none).
#[derive(Debug, Default)]
pub(super) struct Validity {
    len: usize,
    bits: Option<Vec<bool>>,
}

impl Validity {
    #[inline]
    pub(super) fn push(&mut self, valid: bool) {
        if valid && self.bits.is_none() {
            self.len += 1;
        } else {
            self.push_stored(valid);
        }
    }

    /// A value once a null was met (or the first null).
    #[cold]
    fn push_stored(&mut self, valid: bool) {
        let len = self.len;
        self.bits.get_or_insert_with(|| vec![true; len]).push(valid);
        self.len += 1;
    }

    fn truncate(&mut self, len: usize) {
        self.len = len;
        if let Some(bits) = &mut self.bits {
            bits.truncate(len);
        }
    }

    /// None when every value is valid (as the arrow builders leave it).
    fn finish(self) -> Option<NullBuffer> {
        self.bits
            .map(NullBuffer::from)
            .filter(|nulls| nulls.null_count() > 0)
    }
}

/// An offset into a child or a string's bytes; beyond i32 an Arrow list or string cannot
/// hold it (chunks are a few MB, so only a pathological single record gets here).
pub(super) fn offset(len: usize) -> i32 {
    i32::try_from(len).expect("a JSON chunk's list or string exceeds i32 offsets")
}

/// The builder of one column (or a list's items, or a struct's field) of a given type.
#[derive(Debug)]
pub(super) enum Col {
    Null(usize),
    Bool(Vec<bool>, Validity),
    Int(Vec<i64>, Validity),
    Float(Vec<f64>, Validity),
    Str {
        offsets: Vec<i32>,
        data: Vec<u8>,
        valid: Validity,
    },
    List {
        offsets: Vec<i32>,
        valid: Validity,
        item: Box<Col>,
        item_kind: JType,
    },
    Struct(StructCol),
}

/// A struct's fields, with what the decoder needs to refuse a duplicate key without
/// allocating: `seen[i] == stamp` when field i was met in the current object.
#[derive(Debug)]
pub(super) struct StructCol {
    pub(super) names: Vec<String>,
    pub(super) fields: Vec<Col>,
    pub(super) kinds: Vec<(String, JType)>,
    pub(super) valid: Validity,
    pub(super) len: usize,
    pub(super) seen: Vec<u32>,
    pub(super) stamp: u32,
}

impl StructCol {
    pub(super) fn new(kinds: &[(String, JType)]) -> Self {
        StructCol {
            names: kinds.iter().map(|(k, _)| k.clone()).collect(),
            fields: kinds.iter().map(|(_, k)| Col::new(k)).collect(),
            kinds: kinds.to_vec(),
            valid: Validity::default(),
            len: 0,
            seen: vec![0; kinds.len()],
            stamp: 0,
        }
    }

    /// Start an object: no field seen yet.
    pub(super) fn begin(&mut self) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.stamp = 1;
        }
    }

    /// End an object: the fields it did not have are null.
    pub(super) fn end(&mut self) {
        for (field, seen) in self.fields.iter_mut().zip(&self.seen) {
            if *seen != self.stamp {
                field.push_null();
            }
        }
        self.valid.push(true);
        self.len += 1;
    }

    fn push_null(&mut self) {
        self.fields.iter_mut().for_each(Col::push_null);
        self.valid.push(false);
        self.len += 1;
    }

    fn truncate(&mut self, len: usize) {
        self.fields.iter_mut().for_each(|f| f.truncate(len));
        self.valid.truncate(len);
        self.len = len;
    }

    fn push_obj(&mut self, obj: &Obj) {
        for ((name, _), field) in self.kinds.iter().zip(&mut self.fields) {
            match obj.iter().find(|(k, _)| k == name) {
                Some((_, value)) => field.push_j(value),
                None => field.push_null(),
            }
        }
        self.valid.push(true);
        self.len += 1;
    }

    fn finish(self) -> ArrayRef {
        let nulls = self.valid.finish();
        if self.fields.is_empty() {
            return Arc::new(StructArray::new_empty_fields(self.len, nulls));
        }
        let children = self.fields.into_iter().map(Col::finish).collect();
        Arc::new(StructArray::new(
            struct_fields(&self.kinds),
            children,
            nulls,
        ))
    }
}

impl Col {
    pub(super) fn new(kind: &JType) -> Col {
        match kind {
            JType::Null => Col::Null(0),
            JType::Bool => Col::Bool(Vec::new(), Validity::default()),
            JType::Int => Col::Int(Vec::new(), Validity::default()),
            JType::Float => Col::Float(Vec::new(), Validity::default()),
            JType::Str => Col::Str {
                offsets: vec![0],
                data: Vec::new(),
                valid: Validity::default(),
            },
            JType::List(item) => Col::List {
                offsets: vec![0],
                valid: Validity::default(),
                item: Box::new(Col::new(item)),
                item_kind: (**item).clone(),
            },
            JType::Struct(fields) => Col::Struct(StructCol::new(fields)),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Col::Null(n) => *n,
            Col::Bool(v, _) => v.len(),
            Col::Int(v, _) => v.len(),
            Col::Float(v, _) => v.len(),
            Col::Str { offsets, .. } | Col::List { offsets, .. } => offsets.len() - 1,
            Col::Struct(s) => s.len,
        }
    }

    pub(super) fn push_null(&mut self) {
        match self {
            Col::Null(n) => *n += 1,
            Col::Bool(v, valid) => {
                v.push(false);
                valid.push(false);
            }
            Col::Int(v, valid) => {
                v.push(0);
                valid.push(false);
            }
            Col::Float(v, valid) => {
                v.push(0.0);
                valid.push(false);
            }
            Col::Str {
                offsets,
                data,
                valid,
            } => {
                offsets.push(offset(data.len()));
                valid.push(false);
            }
            Col::List {
                offsets,
                valid,
                item,
                ..
            } => {
                offsets.push(offset(item.len()));
                valid.push(false);
            }
            Col::Struct(s) => s.push_null(),
        }
    }

    /// Back to `len` values (an undone record).
    pub(super) fn truncate(&mut self, len: usize) {
        match self {
            Col::Null(n) => *n = len,
            Col::Bool(v, valid) => {
                v.truncate(len);
                valid.truncate(len);
            }
            Col::Int(v, valid) => {
                v.truncate(len);
                valid.truncate(len);
            }
            Col::Float(v, valid) => {
                v.truncate(len);
                valid.truncate(len);
            }
            Col::Str {
                offsets,
                data,
                valid,
            } => {
                offsets.truncate(len + 1);
                data.truncate(offsets[len] as usize);
                valid.truncate(len);
            }
            Col::List {
                offsets,
                valid,
                item,
                ..
            } => {
                offsets.truncate(len + 1);
                item.truncate(offsets[len] as usize);
                valid.truncate(len);
            }
            Col::Struct(s) => s.truncate(len),
        }
    }

    /// The sizes of this builder and its children, in a fixed order (values, string bytes,
    /// list items, struct fields), for [`Col::reserve`] in the next chunk.
    pub(super) fn sizes(&self, out: &mut Vec<usize>) {
        out.push(self.len());
        match self {
            Col::Str { data, .. } => out.push(data.len()),
            Col::List { item, .. } => item.sizes(out),
            Col::Struct(s) => s.fields.iter().for_each(|f| f.sizes(out)),
            _ => {}
        }
    }

    /// Room for `rows` records, scaled from `sizes` (of [`Col::sizes`], measured over
    /// `seen` records) with a margin: a chunk's buffers are then allocated once, not
    /// doubled (each doubling moves the values to fresh pages the kernel must zero).
    pub(super) fn reserve(
        &mut self,
        sizes: &mut std::slice::Iter<usize>,
        rows: usize,
        seen: usize,
    ) {
        let mut room = || {
            let size = sizes.next().copied().unwrap_or(0);
            let scaled = (size as u128 * rows as u128 / seen.max(1) as u128) as usize;
            scaled + scaled / 16 + 16
        };
        let values = room();
        match self {
            Col::Null(_) => {}
            Col::Bool(v, _) => v.reserve(values),
            Col::Int(v, _) => v.reserve(values),
            Col::Float(v, _) => v.reserve(values),
            Col::Str { offsets, data, .. } => {
                offsets.reserve(values);
                data.reserve(room());
            }
            Col::List { offsets, item, .. } => {
                offsets.reserve(values);
                item.reserve(sizes, rows, seen);
            }
            Col::Struct(s) => s
                .fields
                .iter_mut()
                .for_each(|f| f.reserve(sizes, rows, seen)),
        }
    }

    /// A value of the `serde_json` path or of the inference prefix, which fits the type (the
    /// schema was inferred from it, or it was checked): ints widen to float, null is null.
    pub(super) fn push_j(&mut self, value: &J) {
        match (self, value) {
            (col, J::Null) => col.push_null(),
            (Col::Bool(v, valid), J::Bool(b)) => {
                v.push(*b);
                valid.push(true);
            }
            (Col::Int(v, valid), J::Int(i)) => {
                v.push(*i);
                valid.push(true);
            }
            (Col::Float(v, valid), J::Float(f)) => {
                v.push(*f);
                valid.push(true);
            }
            // as float(int(text)) in Python: "-0" is 0.0, large ints round to nearest.
            (Col::Float(v, valid), J::Int(i)) => {
                v.push(*i as f64);
                valid.push(true);
            }
            (
                Col::Str {
                    offsets,
                    data,
                    valid,
                },
                J::Str(s),
            ) => {
                data.extend_from_slice(s.as_bytes());
                offsets.push(offset(data.len()));
                valid.push(true);
            }
            (
                Col::List {
                    offsets,
                    valid,
                    item,
                    ..
                },
                J::List(items),
            ) => {
                items.iter().for_each(|x| item.push_j(x));
                offsets.push(offset(item.len()));
                valid.push(true);
            }
            (Col::Struct(s), J::Obj(obj)) => s.push_obj(obj),
            // Checked before: cannot happen; a null keeps the columns aligned.
            (col, _) => col.push_null(),
        }
    }

    pub(super) fn finish(self) -> ArrayRef {
        match self {
            Col::Null(n) => Arc::new(NullArray::new(n)),
            Col::Bool(v, valid) => Arc::new(BooleanArray::new(
                BooleanBuffer::from_iter(v),
                valid.finish(),
            )),
            Col::Int(v, valid) => Arc::new(Int64Array::new(ScalarBuffer::from(v), valid.finish())),
            Col::Float(v, valid) => {
                Arc::new(Float64Array::new(ScalarBuffer::from(v), valid.finish()))
            }
            Col::Str {
                offsets,
                data,
                valid,
            } => {
                // The decoder checked each string's UTF-8; the constructor checks it again
                // (a safe re-check rather than an unsafe unchecked build).
                Arc::new(StringArray::new(
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    data.into(),
                    valid.finish(),
                ))
            }
            Col::List {
                offsets,
                valid,
                item,
                item_kind,
            } => {
                let field = Arc::new(Field::new("item", item_kind.arrow(), true));
                Arc::new(ListArray::new(
                    field,
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    item.finish(),
                    valid.finish(),
                ))
            }
            Col::Struct(s) => s.finish(),
        }
    }
}
