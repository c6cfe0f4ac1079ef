//! CSV and TSV: one RFC 4180-style grammar (the delimiter differs), types inferred per column.
//!
//! Grammar (identical to the reference): records end at `\n`, `\r\n` or `\r` outside
//! quotes; blank lines are skipped; a field starting with `"` is quoted (`""` is a quote,
//! delimiters and line breaks are literal) and must be followed by a delimiter or a line
//! end; a `"` inside an unquoted field is literal. An unterminated quote or a character
//! after a closing quote is a fatal error. The first record is the header.
//!
//! Types from the first [`INFER_ROWS`] rows: int64 if every non-empty value is
//! `-?(0|[1-9][0-9]*)` within range, else float64 if every one is a JSON-style number
//! (finite), else bool if every one is `true|false|True|False`, else string; a column
//! with no non-empty value is string. Empty fields are null.
//!
//! One state machine (`Scan`, jumping with `memchr` over unquoted and quoted field
//! contents) reads the grammar. The calling thread runs a lean twin of it (`bounds`: the
//! same states, lines and errors, but it jumps over a record's unquoted fields at once)
//! over the decompressed bytes only to find where records end, and hands whole-record
//! blocks of a few MiB to the pool, with the scanner's state at the block's start. A pool
//! thread runs the scanner from that state over the block (so it finds the same records,
//! lines and errors). In a block of valid UTF-8 (checked once), typed values are parsed as
//! their fields end, and only the built string columns note where their fields lie (a
//! field with a `""` inside is copied aside); otherwise every field's position is noted and
//! the records are checked one by one. The blocks of one output batch form a `Group`: the
//! job that finishes last joins them into the batch of `batch_size` rows (a string field's
//! bytes copied once, from its block into the batch's buffer, blocks in parallel), so the
//! calling thread only reads and splits.
//!
//! Modules: `split` (the state machine and the splitting into blocks, over one [`Input`] of
//! the shared [`Inputs`]), `bounds` (the splitter's boundary finder), `chunk` (where parsed
//! fields lie), `infer` (the schema from the prefix's good records), `values` (the typed
//! value grammar and builders), `decode` (typed columns on the pool, only the projected ones
//! built), `join` (a group's blocks into a batch); this module holds [`CsvSource`]: the
//! header, the prefix, the read-ahead.
//!
//! [`Input`]: super::source::Input

mod bounds;
mod chunk;
mod decode;
mod infer;
mod join;
mod split;
#[cfg(test)]
mod tests;
mod values;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};

use super::ahead::Chunked;
use super::source::Inputs;
use super::{Source, INFER_ROWS};
use crate::error::{Error, Position, Result};
use chunk::*;
use decode::*;
use infer::infer_schema;
use join::*;
use split::*;
use values::*;

/// A block ends after this many bytes of fields, or at the next boundary of the output
/// batches (`batch_size` records, at least 1024). Small enough that its buffers (input,
/// fields, the arrays built from them) stay below the allocator's huge-object size and
/// are reused from block to block: memory newly taken from the OS costs a page fault and
/// zeroing per page, more than the one copy that joins blocks into a large batch.
const CHUNK_BYTES: usize = 4 << 20;

/// Blocks split ahead beyond one per pool thread (plus one).
const GROUP_AHEAD: usize = 4;
/// The same when a batch spans several blocks: the job that ends a group joins its batch
/// (one copy of up to a batch's bytes, ~64 MB for 65536 rows of 1 KB) while the splitting
/// thread waits for it in order, so the other threads keep busy only on blocks split
/// before. Interleaved 15-run duels on a 226 MB CSV, batch 65536, 12 vs 4: median 130 vs
/// 151 ms and 134 vs 139 ms; at most 8 more blocks (CHUNK_BYTES each) in flight.
const GROUP_AHEAD_LARGE: usize = 12;

pub struct CsvSource {
    inputs: Inputs,
    delimiter: u8,
    current: Option<Parser>,
    header: Option<Vec<String>>,
    skip_bad: bool,
    skipped: u64,
    batch_size: usize,
    num_threads: usize,
    types: Vec<CType>,
    schema: SchemaRef,
    /// Records read while inferring the types.
    buffer: Option<Chunk>,
    decoder: Option<Arc<Decoder>>,
    /// The group of the output batch being split off.
    group: Option<Arc<Group>>,
    chunked: Chunked,
    read_done: bool,
    /// Records handed out so far (those of the type inference included).
    gathered: usize,
    /// The error that ended the inference prefix, returned after its good records.
    deferred: Option<Error>,
    /// The columns to build (`columns=`), sorted; None: all.
    projection: Option<Vec<usize>>,
}

impl CsvSource {
    #[cfg(test)]
    pub fn open(
        paths: Vec<String>,
        delimiter: u8,
        compression: Option<super::Compression>,
        batch_size: usize,
        skip_bad: bool,
        num_threads: usize,
    ) -> Result<Self> {
        let inputs = Inputs::new(paths, compression);
        Self::from_inputs(inputs, delimiter, batch_size, skip_bad, num_threads)
    }

    /// Over inputs the reader may have started (its first one opened to sniff the format).
    pub fn from_inputs(
        inputs: Inputs,
        delimiter: u8,
        batch_size: usize,
        skip_bad: bool,
        num_threads: usize,
    ) -> Result<Self> {
        let mut source = CsvSource {
            inputs,
            delimiter,
            current: None,
            header: None,
            skip_bad,
            skipped: 0,
            batch_size,
            num_threads,
            types: Vec::new(),
            schema: Arc::new(Schema::empty()),
            buffer: None,
            decoder: None,
            group: None,
            chunked: Chunked::default(),
            read_done: false,
            gathered: 0,
            deferred: None,
            projection: None,
        };
        // A group's last job joins the batch: more blocks are split meanwhile.
        source.chunked.extra_depth = if batch_size > 1024 {
            GROUP_AHEAD_LARGE
        } else {
            GROUP_AHEAD
        };
        source.read_prefix()?;
        Ok(source)
    }

    /// Parse data records (headers consumed and checked) into `chunk` until it holds
    /// `rows` records (true) or the input ends (false).
    fn fill(&mut self, chunk: &mut Chunk, rows: usize) -> Result<bool> {
        loop {
            let Some(parser) = self.current.as_mut() else {
                if !self.open_next()? {
                    return Ok(false);
                }
                continue;
            };
            if parser.fill(chunk, rows)? {
                return Ok(true);
            }
            self.current = None;
        }
    }

    /// Open the next file and read its header (false when there is none).
    fn open_next(&mut self) -> Result<bool> {
        let Some(input) = self.inputs.next_input()? else {
            return Ok(false);
        };
        let path = input.path.to_string();
        let mut parser = Parser::new(input, self.delimiter)?;
        let mut head = Chunk::default();
        parser.fill(&mut head, 1)?;
        if !head.records.is_empty() {
            let names = head.record(0).map(<[u8]>::to_vec).collect();
            self.set_header(&path, head.records[0].line, names)?;
        }
        self.current = Some(parser);
        Ok(true)
    }

    fn set_header(&mut self, path: &str, line: u64, fields: Vec<Vec<u8>>) -> Result<()> {
        let position = Some(Position::Line(line));
        let mut names = Vec::with_capacity(fields.len());
        for f in fields {
            match String::from_utf8(f) {
                Ok(s) => names.push(s),
                Err(_) => return Err(Error::data(path, position, "invalid UTF-8 in the header")),
            }
        }
        let unique: std::collections::HashSet<&String> = names.iter().collect();
        if unique.len() != names.len() {
            return Err(Error::data(
                path,
                position,
                "duplicate column names in the header",
            ));
        }
        match &self.header {
            None => self.header = Some(names),
            Some(first) if *first != names => {
                return Err(Error::SchemaMismatch {
                    path: path.to_string(),
                    position,
                    message: format!("header {names:?} differs from the first file's {first:?}"),
                })
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn width(&self) -> usize {
        self.header.as_ref().map(Vec::len).unwrap_or(0)
    }

    /// Read the type-inference prefix (its good records, parsed once) and infer the schema.
    fn read_prefix(&mut self) -> Result<()> {
        // The header (of the first file with a record) gives the width.
        while self.header.is_none() && self.open_next()? {}
        let mut buffer = Chunk::new(self.width());
        while buffer.records.len() < INFER_ROWS {
            let r = buffer.records.len();
            if let Err(e) = self.fill(&mut buffer, r + 1) {
                // Good rows first: the schema comes from the records before the error,
                // they are delivered, then the error. With none, opening fails.
                buffer.truncate(r);
                if r == 0 {
                    return Err(e);
                }
                self.deferred = Some(e);
                break;
            }
            if buffer.records.len() == r {
                break;
            }
            // The header is known once the first record is read.
            if let Some((message, mismatch)) = shape_problem(self.width(), &buffer, r, false) {
                // A record of the wrong shape is skippable by kind (shape_problem only
                // reports record-level problems; grammar errors come from `fill`).
                let error = record_error(buffer.path(r), buffer.records[r].line, message, mismatch);
                buffer.truncate(r);
                if self.skip_bad {
                    self.skipped += 1;
                    continue;
                }
                if r == 0 {
                    return Err(error);
                }
                self.deferred = Some(error);
                break;
            }
        }
        let names = self.header.clone().unwrap_or_default();
        (self.types, self.schema) = infer_schema(&names, &buffer);
        self.gathered = buffer.records.len();
        self.buffer = (!buffer.records.is_empty()).then_some(buffer);
        Ok(())
    }

    fn decoder(&mut self) -> Arc<Decoder> {
        if self.decoder.is_none() {
            self.decoder = Some(Arc::new(Decoder::new(
                self.width(),
                self.types.clone(),
                self.schema.clone(),
                self.skip_bad,
                self.projection.as_deref(),
            )));
        }
        self.decoder.clone().expect("set above")
    }

    /// Split off the next block of records as a job of its output batch's group (None at
    /// the end of the input).
    fn gather(&mut self) -> Option<Work> {
        if self.read_done {
            return None;
        }
        let decoder = self.decoder();
        let group = self.group.get_or_insert_with(Group::new).clone();
        if let Some(buffer) = self.buffer.take() {
            // The records read to infer the types start the first batch.
            let index = group.add();
            let part = decoder.decode_chunk(buffer);
            group.finish(index, part, false);
        }
        if let Some(error) = self.deferred.take() {
            // The error that ended the inference prefix, after its good records.
            self.read_done = true;
            let index = group.add();
            self.group = None;
            return Some(Work {
                group,
                index,
                seals: true,
                what: What::Failed(error),
            });
        }
        let rows = if self.batch_size >= 1024 {
            self.batch_size - self.gathered % self.batch_size
        } else {
            1024
        };
        let (what, seals) = loop {
            let parser = match self.current.as_mut() {
                Some(parser) => parser,
                None => match self.open_next() {
                    Ok(true) => continue,
                    Ok(false) => {
                        self.read_done = true;
                        if group.is_empty() {
                            self.group = None;
                            return None;
                        }
                        break (What::End, true);
                    }
                    Err(e) => {
                        self.read_done = true;
                        break (What::Failed(e), true);
                    }
                },
            };
            let spare = |room| decoder.take_spare(room);
            let (block, records, stop) = parser.split(rows, CHUNK_BYTES, spare);
            self.gathered += records;
            if stop {
                self.read_done = true;
            } else if block.last {
                self.current = None;
                if records == 0 {
                    continue;
                }
            }
            // A group is one output batch (small batches: one block, sliced by the reader).
            let seals = stop || self.batch_size < 1024 || self.gathered % self.batch_size == 0;
            break (What::Block(block), seals);
        };
        let index = group.add();
        if seals {
            self.group = None;
        }
        Some(Work {
            group,
            index,
            seals,
            what,
        })
    }
}

impl Source for CsvSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn push_projection(&mut self, sorted: &[usize]) -> Result<bool> {
        if self.decoder.is_some() || sorted.iter().any(|&c| c >= self.types.len()) {
            // Decoding has begun (or the indices are not ours): the reader projects.
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
            move |work| decoder.decode_work(work),
        );
        self.chunked = chunked;
        batch
    }

    fn skipped(&self) -> u64 {
        self.skipped + self.chunked.skipped
    }
}
