//! Streaming readers of training-data files.
//!
//! [`Reader`] reads a list of files of one format and one compression and yields
//! `RecordBatch`es of exactly `batch_size` rows (the last may be shorter), whatever the
//! row groups, record batches or shards of the input. It opens lazily (first call to
//! [`Reader::schema`] or [`Reader::next_batch`]), decompresses as a stream, and never
//! panics on bad input. The rules (type inference, CSV grammar, errors) are those of the
//! reference `fast_axolotl/_fallback/reading/`, documented in `docs/reading.md`.

mod ahead;
mod arrowfile;
mod csv;
mod ipcguard;
mod json;
mod parquet;
pub mod source;
mod text;

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::error::{Error, Result};

/// Records (rows) from which JSON/JSONL/CSV/TSV column types are inferred.
pub const INFER_ROWS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Arrow,
    Jsonl,
    Json,
    Csv,
    Tsv,
    Text,
    /// Told by the first input's (decompressed) first bytes: see [`source::sniff_format`].
    Auto,
}

impl Format {
    /// Kernel format names (the public API maps `feather` and `hf_dataset` to `arrow`).
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "parquet" => Format::Parquet,
            "arrow" | "feather" => Format::Arrow,
            "jsonl" => Format::Jsonl,
            "json" => Format::Json,
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            "text" => Format::Text,
            "auto" => Format::Auto,
            other => {
                return Err(Error::UnsupportedFormat(format!(
                    "unsupported format {other:?}"
                )))
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    /// Told by each input's first bytes (gzip `1f 8b`, zstd `28 b5 2f fd`, else none): for
    /// pipes and devices, whose bytes the caller cannot look at without consuming them.
    Auto,
}

impl Compression {
    pub fn parse(name: Option<&str>) -> Result<Option<Self>> {
        Ok(match name {
            None => None,
            Some("gzip") => Some(Compression::Gzip),
            Some("zstd") => Some(Compression::Zstd),
            Some("auto") => Some(Compression::Auto),
            Some(other) => {
                return Err(Error::UnsupportedFormat(format!(
                    "unsupported compression {other:?}"
                )))
            }
        })
    }
}

#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub format: Format,
    pub compression: Option<Compression>,
    pub batch_size: usize,
    pub columns: Option<Vec<String>>,
    /// `on_error="skip"`: drop malformed records of the record formats, counting them.
    pub skip_bad: bool,
    /// Threads of the shared pool decoding ahead (0 = the default, 1 = the caller's only).
    pub num_threads: usize,
    /// Parquet only, one file: read row groups `start..stop` of it (a distributed read
    /// splits a large file so). Error positions stay rows of the whole file.
    pub row_groups: Option<(usize, usize)>,
}

/// A producer of batches of any size, all with the schema it reports: a push decoder per
/// format over [`source::Inputs`]. The contract that makes "good rows first" hold: every
/// good record before an error is returned (in a batch of any size) before the error, which
/// comes from the next call; opening fails only when no good record precedes the first error.
pub(crate) trait Source: Send {
    /// The full schema of the input (before projection).
    fn schema(&self) -> SchemaRef;
    /// Ask the source to return only these columns (sorted, unique, of the full schema).
    /// Returns false if it cannot; the reader then projects itself.
    fn push_projection(&mut self, _sorted: &[usize]) -> Result<bool> {
        Ok(false)
    }
    fn next_batch(&mut self) -> Result<Option<RecordBatch>>;
    /// Records dropped under `skip_bad`.
    fn skipped(&self) -> u64 {
        0
    }
}

struct Opened {
    source: Box<dyn Source>,
    schema: SchemaRef,
    /// Column indices into each source batch, in output order.
    take: Option<Vec<usize>>,
}

/// The streaming reader: see the module documentation.
pub struct Reader {
    paths: Vec<String>,
    options: ReadOptions,
    opened: Option<Opened>,
    pending: VecDeque<RecordBatch>,
    pending_rows: usize,
    exhausted: bool,
    /// The error that ended the source, raised once the rows read before it are delivered.
    failed: Option<Error>,
    done: bool,
}

impl Reader {
    pub fn new(paths: Vec<String>, options: ReadOptions) -> Result<Self> {
        if options.batch_size == 0 {
            return Err(Error::invalid("batch_size must be >= 1"));
        }
        if let Some((start, stop)) = options.row_groups {
            if paths.len() != 1 || !matches!(options.format, Format::Parquet | Format::Auto) {
                return Err(Error::invalid("row_groups: one Parquet file only"));
            }
            if start > stop {
                return Err(Error::invalid(format!(
                    "row_groups: start {start} is after stop {stop}"
                )));
            }
        }
        Ok(Reader {
            paths,
            options,
            opened: None,
            pending: VecDeque::new(),
            pending_rows: 0,
            exhausted: false,
            failed: None,
            done: false,
        })
    }

    fn open(&mut self) -> Result<&mut Opened> {
        if self.opened.is_none() {
            let o = &self.options;
            let mut inputs = source::Inputs::new(self.paths.clone(), o.compression);
            let format = match o.format {
                Format::Auto => inputs.sniff_format()?,
                known => known,
            };
            if o.row_groups.is_some() && format != Format::Parquet {
                return Err(Error::invalid("row_groups: one Parquet file only"));
            }
            let mut source = open_source(format, inputs, o)?;
            let full = source.schema();
            let (schema, take) = match &o.columns {
                None => (Arc::new(Schema::new(full.fields().clone())), None),
                Some(columns) => {
                    let indices = project(&full, columns)?;
                    let schema = Arc::new(Schema::new(
                        indices
                            .iter()
                            .map(|&i| full.field(i).clone())
                            .collect::<Vec<_>>(),
                    ));
                    let mut sorted = indices.clone();
                    sorted.sort_unstable();
                    let take = if source.push_projection(&sorted)? {
                        indices
                            .iter()
                            .map(|i| sorted.binary_search(i).unwrap_or(0))
                            .collect()
                    } else {
                        indices
                    };
                    (schema, Some(take))
                }
            };
            if schema.fields().iter().any(|f| has_nul_name(f)) {
                // Arrow's C data interface carries names as C strings: such a schema
                // cannot reach Python (the reference refuses it the same way).
                return Err(Error::data(
                    self.paths.first().cloned().unwrap_or_default(),
                    None,
                    "a column name holds a NUL character",
                ));
            }
            self.opened = Some(Opened {
                source,
                schema,
                take,
            });
        }
        Ok(self.opened.as_mut().expect("opened above"))
    }

    /// The output schema (projected, without schema-level metadata).
    pub fn schema(&mut self) -> Result<SchemaRef> {
        match self.open() {
            Ok(opened) => Ok(opened.schema.clone()),
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    /// Records dropped so far under `on_error="skip"`.
    pub fn skipped(&self) -> u64 {
        self.opened
            .as_ref()
            .map(|o| o.source.skipped())
            .unwrap_or(0)
    }

    /// The next batch of exactly `batch_size` rows (the last may be shorter), or None.
    /// When the source fails, the rows it delivered before the error come out first (in
    /// `batch_size` batches, the last one partial), then the error. After an error the
    /// reader is finished.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        let result = self.next_inner();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
            self.pending.clear();
        }
        result
    }

    fn next_inner(&mut self) -> Result<Option<RecordBatch>> {
        let batch_size = self.options.batch_size;
        self.open()?;
        while self.pending_rows < batch_size && !self.exhausted {
            let opened = self.opened.as_mut().expect("opened");
            match opened.source.next_batch() {
                Err(e) => {
                    self.exhausted = true;
                    self.failed = Some(e);
                }
                Ok(None) => self.exhausted = true,
                Ok(Some(batch)) if batch.num_rows() == 0 => {}
                Ok(Some(batch)) => {
                    let rows = batch.num_rows();
                    let columns = match &opened.take {
                        None => batch.columns().to_vec(),
                        Some(take) => take.iter().map(|&i| batch.column(i).clone()).collect(),
                    };
                    let out = with_rows(&opened.schema, columns, rows, batch.schema_ref())?;
                    self.pending.push_back(out);
                    self.pending_rows += rows;
                }
            }
        }
        if self.pending_rows == 0 {
            return match self.failed.take() {
                Some(e) => Err(e),
                None => Ok(None),
            };
        }
        let want = batch_size.min(self.pending_rows);
        let mut parts = Vec::new();
        let mut need = want;
        while need > 0 {
            let front = self.pending.pop_front().expect("rows are pending");
            if front.num_rows() <= need {
                need -= front.num_rows();
                parts.push(front);
            } else {
                parts.push(front.slice(0, need));
                self.pending
                    .push_front(front.slice(need, front.num_rows() - need));
                need = 0;
            }
        }
        self.pending_rows -= want;
        let schema = self.opened.as_ref().expect("opened").schema.clone();
        if parts.len() == 1 {
            return Ok(parts.pop());
        }
        arrow_select::concat::concat_batches(&schema, &parts)
            .map(Some)
            .map_err(|e| {
                Error::data(
                    self.paths.first().cloned().unwrap_or_default(),
                    None,
                    e.to_string(),
                )
            })
    }
}

/// The decoder of `format` over the inputs (the first may be open already: a pipe whose
/// format was sniffed is read from that one open stream).
fn open_source(format: Format, inputs: source::Inputs, o: &ReadOptions) -> Result<Box<dyn Source>> {
    Ok(match format {
        Format::Parquet | Format::Arrow => Box::new(arrowfile::ArrowFiles::from_inputs(
            inputs,
            format,
            o.batch_size,
            o.num_threads,
            o.row_groups,
        )?),
        Format::Jsonl | Format::Json => Box::new(json::JsonSource::from_inputs(
            inputs,
            format == Format::Json,
            o.batch_size,
            o.skip_bad,
            o.num_threads,
        )?),
        Format::Csv | Format::Tsv => Box::new(csv::CsvSource::from_inputs(
            inputs,
            if format == Format::Tsv { b'\t' } else { b',' },
            o.batch_size,
            o.skip_bad,
            o.num_threads,
        )?),
        Format::Text => Box::new(text::TextSource::from_inputs(
            inputs,
            o.batch_size,
            o.skip_bad,
        )),
        Format::Auto => unreachable!("told by the first input above"),
    })
}

/// Run a third-party decoder step: arrow-ipc and parquet can panic on malformed input
/// (fuzzing found an IPC dictionary buffer outside its message body and Parquet byte-array
/// pages that slice out of range). Such a panic means a corrupt file, not a bug of ours:
/// the message it carries is returned, for a `DataFormatError`.
pub(crate) fn decoder_guard<T>(step: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).map_err(|panic| {
        let what = ahead::panic_message(panic.as_ref());
        format!("malformed data, the decoder failed ({what})")
    })
}

/// Whether a field name, nested ones included, holds a NUL character.
fn has_nul_name(field: &Field) -> bool {
    field.name().contains('\0') || type_has_nul_name(field.data_type())
}

fn type_has_nul_name(data_type: &DataType) -> bool {
    match data_type {
        DataType::Struct(children) => children.iter().any(|f| has_nul_name(f)),
        DataType::List(child)
        | DataType::LargeList(child)
        | DataType::ListView(child)
        | DataType::LargeListView(child)
        | DataType::FixedSizeList(child, _)
        | DataType::Map(child, _) => has_nul_name(child),
        DataType::Union(children, _) => children.iter().any(|(_, f)| has_nul_name(f)),
        DataType::RunEndEncoded(_, values) => has_nul_name(values),
        DataType::Dictionary(_, values) => type_has_nul_name(values),
        _ => false,
    }
}

/// A batch with `schema` (checks the columns fit; a later shard that does not is a mismatch).
pub(crate) fn with_rows(
    schema: &SchemaRef,
    columns: Vec<arrow_array::ArrayRef>,
    rows: usize,
    from: &SchemaRef,
) -> Result<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options).map_err(|e| {
        Error::SchemaMismatch {
            path: String::new(),
            position: None,
            message: format!("columns {from} do not fit the schema {schema}: {e}"),
        }
    })
}

fn project(schema: &Schema, columns: &[String]) -> Result<Vec<usize>> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut out = Vec::with_capacity(columns.len());
    for name in columns {
        let matches: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| **n == name.as_str())
            .map(|(i, _)| i)
            .collect();
        match matches.len() {
            0 => {
                return Err(Error::invalid(format!(
                    "column {name:?} is not in the data (columns: {})",
                    names.join(", ")
                )))
            }
            1 => out.push(matches[0]),
            n => {
                return Err(Error::invalid(format!(
                    "column {name:?} is ambiguous: the data has {n} columns of that name"
                )))
            }
        }
    }
    Ok(out)
}

/// Whether two schemas have the same column names and types (metadata ignored).
pub(crate) fn same_columns(a: &Schema, b: &Schema) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields().iter())
            .all(|(x, y)| x.name() == y.name() && x.data_type().equals_datatype(y.data_type()))
}

/// Build a batch of `rows` rows from columns (zero columns allowed).
pub(crate) fn batch_of(
    schema: &SchemaRef,
    columns: Vec<arrow_array::ArrayRef>,
    rows: usize,
) -> Result<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
        .map_err(|e| Error::internal(format!("cannot assemble a batch: {e}")))
}

#[cfg(test)]
mod tests;
