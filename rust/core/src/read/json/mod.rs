//! JSON Lines and JSON (top-level array of objects): parsing, type inference, building.
//!
//! Rules (identical to the reference): numbers without `.`/`e`/`E` are int64 (out of range
//! is an error), others float64 (non-finite is an error); NaN/Infinity, lone surrogates and
//! nesting deeper than [`MAX_DEPTH`] are errors. Types are inferred from the first
//! [`INFER_ROWS`] records: null < bool/int/float/string/list/struct, int+float -> float,
//! lists and structs unified recursively (struct keys in first-seen order); any other mix
//! is a `SchemaMismatch`. Later records must fit the inferred schema (ints widen to float;
//! a new key is a mismatch).

mod builders;
mod check;
mod cursor;
mod decode;
mod direct;
mod infer;
mod parse;
mod split;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};

use super::ahead::Chunked;
use super::source::Inputs;
use super::{Source, INFER_ROWS};
use crate::error::{Error, Position, Result};
use check::parse_checked;
use decode::{to_obj, Decoder};
use infer::{row_kinds, unify_row};
use parse::Obj;
use split::{Limit, Records, Span};

/// Deepest nesting of arrays/objects a record may have (the record object is depth 1).
/// 63 because a column's Arrow type then has at most 62 nested levels: pyarrow's C data
/// import refuses a 63rd ("Recursion level in ArrowSchema struct exceeded"), so deeper
/// records must fail here, as a `DataFormatError` naming file and line.
pub const MAX_DEPTH: usize = 63;

/// A record-level problem: an error, or a skipped record under `on_error="skip"`.
struct Bad {
    message: String,
    kind: BadKind,
}

/// What went wrong with a record: decides the error class and, inside a JSON array
/// document, whether the whole read stops (typed, never read from the message text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BadKind {
    /// Not JSON at all (in a JSON document: the document is invalid, fatal).
    Syntax,
    /// Nested deeper than [`MAX_DEPTH`] (in a JSON document: fatal, as for `json.load`).
    TooDeep,
    /// Valid JSON our rules refuse (a number out of range, not an object).
    Value,
    /// A value that does not fit the inferred schema (`SchemaMismatchError`).
    Mismatch,
}

impl Bad {
    /// Whether, in a JSON array document, this makes the document itself invalid.
    fn breaks_document(&self) -> bool {
        matches!(self.kind, BadKind::Syntax | BadKind::TooDeep)
    }
}

fn bad(message: impl Into<String>) -> Bad {
    Bad {
        message: message.into(),
        kind: BadKind::Value,
    }
}

fn syntax(message: impl Into<String>) -> Bad {
    Bad {
        message: message.into(),
        kind: BadKind::Syntax,
    }
}

fn too_deep() -> Bad {
    Bad {
        message: format!("nested deeper than {MAX_DEPTH} levels"),
        kind: BadKind::TooDeep,
    }
}

fn mismatch(message: impl Into<String>) -> Bad {
    Bad {
        message: message.into(),
        kind: BadKind::Mismatch,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum JType {
    Null,
    Bool,
    Int,
    Float,
    Str,
    List(Box<JType>),
    Struct(Vec<(String, JType)>),
}

impl JType {
    fn arrow(&self) -> DataType {
        match self {
            JType::Null => DataType::Null,
            JType::Bool => DataType::Boolean,
            JType::Int => DataType::Int64,
            JType::Float => DataType::Float64,
            JType::Str => DataType::Utf8,
            JType::List(item) => DataType::List(Arc::new(Field::new("item", item.arrow(), true))),
            JType::Struct(fields) => DataType::Struct(struct_fields(fields)),
        }
    }
}

fn struct_fields(fields: &[(String, JType)]) -> Fields {
    fields
        .iter()
        .map(|(name, kind)| Field::new(name, kind.arrow(), true))
        .collect::<Vec<_>>()
        .into()
}

/// Records gathered on the caller's thread (reading and decompressing), decoded on the pool.
struct Chunk {
    data: Vec<u8>,
    /// File, position and span in `data` of each record.
    records: Vec<Span>,
    /// Records already parsed (and checked) while inferring the types, decoded before
    /// `records` without being parsed again.
    parsed: Vec<Obj<'static>>,
    /// The reading error met after these records (they still count).
    tail: Option<Error>,
}

/// A chunk ends on a batch boundary after this many bytes of records or 1024 records, and
/// at 4x this many bytes in any case.
const CHUNK_BYTES: usize = 4 << 20;

/// The largest `batch_size` whose batches chunks are aligned to (see [`Limit`]).
const ALIGNED_BATCH: usize = 8192;

pub struct JsonSource {
    records: Records,
    skip_bad: bool,
    skipped: u64,
    batch_size: usize,
    num_threads: usize,
    kinds: Vec<(String, JType)>,
    schema: SchemaRef,
    /// The columns to build (sorted indices), after `push_projection`; None: all.
    projection: Option<Vec<usize>>,
    /// Records read while inferring the types.
    buffer: Option<Chunk>,
    decoder: Option<Arc<Decoder>>,
    chunked: Chunked,
    read_done: bool,
    /// Records handed to the decoder so far (chunks end on batch boundaries).
    gathered: usize,
}

impl JsonSource {
    #[cfg(test)]
    pub fn open(
        paths: Vec<String>,
        array: bool,
        compression: Option<super::Compression>,
        batch_size: usize,
        skip_bad: bool,
        num_threads: usize,
    ) -> Result<Self> {
        let inputs = Inputs::new(paths, compression);
        Self::from_inputs(inputs, array, batch_size, skip_bad, num_threads)
    }

    /// Over inputs the reader may have started (its first one opened to sniff the format).
    pub fn from_inputs(
        inputs: Inputs,
        array: bool,
        batch_size: usize,
        skip_bad: bool,
        num_threads: usize,
    ) -> Result<Self> {
        let records = Records::new(inputs, array);
        let mut source = JsonSource {
            records,
            skip_bad,
            skipped: 0,
            batch_size,
            num_threads,
            kinds: Vec::new(),
            schema: Arc::new(Schema::empty()),
            projection: None,
            buffer: None,
            decoder: None,
            chunked: Chunked::default(),
            read_done: false,
            gathered: 0,
        };
        source.infer()?;
        Ok(source)
    }

    fn fail(&mut self, path: &str, position: &Position, b: Bad) -> Result<()> {
        if self.skip_bad {
            self.skipped += 1;
            return Ok(());
        }
        Err(Decoder::error(path, position, b))
    }

    /// Infer the types from the first [`INFER_ROWS`] good records, kept to start the first
    /// batch. Records are read in order as many at a time as are still wanted, parsed on
    /// the pool, then taken in order (the same records, and the same first error, as one
    /// at a time).
    fn infer(&mut self) -> Result<()> {
        let mut kinds: Vec<(String, JType)> = Vec::new();
        let mut buffer = Chunk {
            data: Vec::new(),
            records: Vec::new(),
            parsed: Vec::new(),
            tail: None,
        };
        let array = self.records.is_array();
        let mut data = Vec::new();
        let mut spans = Vec::new();
        let mut done = false;
        while buffer.parsed.len() < INFER_ROWS && !done {
            let want = INFER_ROWS - buffer.parsed.len();
            data.clear();
            spans.clear();
            let mut tail = None;
            let mut stop = None;
            match self.records.fill(&mut data, &mut spans, Limit::rows(want)) {
                Ok(end) => done = end,
                Err(e) => (tail, done) = (Some(e), true),
            }
            // Parsed and typed on the pool, once: the parsed rows are kept for the first
            // batches (the bytes are not kept, nor parsed again).
            let parse = |(path, position, start, end): &(Arc<str>, Position, usize, usize)| {
                parse_checked(path, position, &data[*start..*end], array)
                    .map(|parsed| parsed.map(|row| (row_kinds(&row), to_obj(row))))
            };
            let parsed: Vec<_> = if crate::pool::parallel(self.num_threads, data.len()) {
                use rayon::prelude::*;
                crate::pool::install(|| {
                    spans
                        .par_iter()
                        .with_min_len(crate::pool::min_len(self.num_threads, spans.len()))
                        .map(parse)
                        .collect()
                })?
            } else {
                spans.iter().map(parse).collect()
            };
            for (span, parsed) in spans.iter().zip(parsed) {
                let (path, position, _, _) = span;
                let outcome = parsed.and_then(|parsed| match parsed {
                    Ok((row_kinds, row)) => match unify_row(&kinds, row_kinds) {
                        Ok(merged) => {
                            kinds = merged;
                            Ok(Some(row))
                        }
                        Err(b) => self.fail(path, position, b).map(|()| None),
                    },
                    Err(b) => self.fail(path, position, b).map(|()| None),
                });
                match outcome {
                    Ok(Some(row)) => buffer.parsed.push(row),
                    Ok(None) => continue,
                    Err(e) => {
                        stop = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = stop.take().or(tail) {
                // Good rows first: the schema comes from the good records before the error,
                // they are delivered, then the error (open fails only when there are none).
                if buffer.parsed.is_empty() {
                    return Err(e);
                }
                buffer.tail = Some(e);
                self.read_done = true;
                break;
            }
        }
        self.buffer = (!buffer.parsed.is_empty()).then_some(buffer);
        self.schema = Arc::new(Schema::new(struct_fields(&kinds)));
        self.kinds = kinds;
        Ok(())
    }

    fn decoder(&mut self) -> Arc<Decoder> {
        self.decoder
            .get_or_insert_with(|| {
                let built = self
                    .projection
                    .clone()
                    .unwrap_or_else(|| (0..self.kinds.len()).collect());
                let schema = match &self.projection {
                    None => self.schema.clone(),
                    Some(built) => Arc::new(self.schema.project(built).unwrap_or_else(|_| {
                        // push_projection checked the indices.
                        Schema::empty()
                    })),
                };
                Arc::new(Decoder {
                    kinds: self.kinds.clone(),
                    built,
                    schema,
                    skip_bad: self.skip_bad,
                    array: self.records.is_array(),
                    sizes: Default::default(),
                    spare: Default::default(),
                })
            })
            .clone()
    }

    /// Read the next chunk of records (None at the end of the input).
    fn gather(&mut self) -> Option<Chunk> {
        if let Some(buffer) = self.buffer.take() {
            // The records parsed to infer the types: built as the first chunk.
            self.gathered += buffer.parsed.len();
            return Some(buffer);
        }
        if self.read_done {
            return None;
        }
        // Batches of up to ALIGNED_BATCH rows fall on chunk boundaries; larger ones (one
        // batch for the whole of read_table) are concatenated whatever the chunks, which
        // then stay small for the pool.
        let every = if self.batch_size <= ALIGNED_BATCH {
            self.batch_size
        } else {
            1
        };
        let limit = Limit {
            rows: usize::MAX,
            soft_rows: 1024,
            soft_bytes: CHUNK_BYTES,
            every,
            base: self.gathered % every.max(1),
            bytes: 4 * CHUNK_BYTES,
        };
        let data = match &self.decoder {
            Some(decoder) => decoder.buffer(CHUNK_BYTES + (CHUNK_BYTES >> 3)),
            None => Vec::new(),
        };
        let mut chunk = Chunk {
            // Room for the limit and the block that crosses it: one allocation, no regrowth.
            data,
            records: Vec::new(),
            parsed: Vec::new(),
            tail: None,
        };
        match self
            .records
            .fill(&mut chunk.data, &mut chunk.records, limit)
        {
            Ok(end) => self.read_done = end,
            Err(e) => {
                chunk.tail = Some(e);
                self.read_done = true;
            }
        }
        self.gathered += chunk.records.len();
        (!chunk.records.is_empty() || chunk.tail.is_some()).then_some(chunk)
    }
}

impl Source for JsonSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Only the selected columns are built; every record is still checked whole, so the
    /// errors are the same with or without `columns=`.
    fn push_projection(&mut self, sorted: &[usize]) -> Result<bool> {
        if self.decoder.is_some() || sorted.iter().any(|&i| i >= self.kinds.len()) {
            return Ok(false);
        }
        self.projection = Some(sorted.to_vec());
        Ok(true)
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        // `gather` borrows the source: the read-ahead state is taken out meanwhile.
        let decoder = self.decoder();
        let mut chunked = std::mem::take(&mut self.chunked);
        let batch = chunked.next_batch(
            self.num_threads,
            || self.gather(),
            move |chunk| decoder.decode(chunk),
        );
        self.chunked = chunked;
        batch
    }

    fn skipped(&self) -> u64 {
        self.skipped + self.chunked.skipped
    }
}
