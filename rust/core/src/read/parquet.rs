//! Parquet: row groups decoded on the shared rayon pool, a bounded number ahead of the
//! consumer, or streamed on the caller's thread when that cannot help (one thread, one
//! row group, or row groups too large to hold several decoded at once).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{SchemaRef, TimeUnit};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::file::reader::{ChunkReader, Length};

use super::ahead::Ahead;
use crate::error::{Error, Position, Result};
use crate::pool;

mod int96;
mod types;
use int96::{first_outside_nanoseconds, int96_leaves, with_int96_unit};
use types::{check_schema_depth, pyarrow_schema};

/// Rows per decoded batch at most. Decoding 200k tokenized rows took 1.2 CPU-s at 2,048
/// rows per batch and 1.75 at 50,000 (large fresh buffers are slow to fill); joining the
/// small batches into 65,536-row output batches costs about what that saves (1.69), so the
/// gain is for batch sizes up to a few thousand rows.
const DECODE_BATCH: usize = 2048;

/// Decoded row groups larger than this are streamed rather than decoded whole, so that
/// memory stays near `threads x MAX_GROUP_BYTES` at most.
pub const MAX_GROUP_BYTES: i64 = 256 << 20;

fn corrupt(path: &str, e: impl std::fmt::Display) -> Error {
    Error::data(path, None, format!("corrupt or truncated file: {e}"))
}

/// Give a data error without a position the row where reading stopped.
fn at_row(e: Error, rows: u64) -> Error {
    match e {
        Error::DataFormat {
            path,
            position: None,
            message,
        } => Error::data(path, Some(Position::Row(rows)), message),
        other => other,
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// A file shared by decoders on several threads: every read is positioned (`pread`), so
/// no thread moves another's cursor (`impl ChunkReader for File` shares one cursor).
#[derive(Clone)]
pub struct SharedFile {
    file: Arc<File>,
    len: u64,
}

impl SharedFile {
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(SharedFile {
            file: Arc::new(file),
            len,
        })
    }
}

/// A cursor over a [`SharedFile`].
pub struct At {
    file: Arc<File>,
    pos: u64,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_at(&self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Length for SharedFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for SharedFile {
    type T = BufReader<At>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(BufReader::with_capacity(
            1 << 16,
            At {
                file: self.file.clone(),
                pos: start,
            },
        ))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let mut buf = vec![0u8; length];
        let mut at = At {
            file: self.file.clone(),
            pos: start,
        };
        at.read_exact(&mut buf)?;
        Ok(buf.into())
    }
}

/// The batches of one row group, and the error that ended it early (if any): the
/// batches before a decoding error are still delivered, as when streaming.
type Group = (Vec<RecordBatch>, Option<Error>);

enum Mode {
    Streaming(ParquetRecordBatchReader),
    Ahead {
        first: Option<ParquetRecordBatchReader>,
        next_group: usize,
        in_flight: Ahead<Group>,
        ready: VecDeque<RecordBatch>,
        failed: Option<Error>,
    },
}

pub struct ParquetFile {
    path: String,
    file: SharedFile,
    metadata: ArrowReaderMetadata,
    batch_size: usize,
    num_threads: usize,
    projection: Option<Vec<usize>>,
    /// The schema delivered: the Arrow types `pyarrow.parquet.read_table` gives.
    target: SchemaRef,
    mode: Option<Mode>,
    /// The row groups read, in order (all by default).
    groups: std::ops::Range<usize>,
    /// The file's row of the next row returned: where an error is reported (the damage is
    /// at or after it).
    rows: u64,
    /// An error found in a batch whose good rows were returned first; raised next.
    deferred: Option<Error>,
    /// Finished (after an error).
    done: bool,
}

impl ParquetFile {
    pub fn open(path: &str, file: File, batch_size: usize, num_threads: usize) -> Result<Self> {
        let file = SharedFile::new(file).map_err(|e| Error::io(path, e))?;
        let plain = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
            .map_err(|e| at_row(corrupt(path, e), 0))?;
        check_schema_depth(path, &plain)?;
        let int96 = int96_leaves(&plain);
        // pyarrow reads INT96 as nanoseconds whatever unit its embedded schema recorded
        // (the parquet crate follows the embedded unit).
        let target = Arc::new(with_int96_unit(
            &pyarrow_schema(&plain, true),
            &int96,
            TimeUnit::Nanosecond,
        ));
        // Decode with hints: dates stored as INT32 as date32 (as pyarrow), INT96 as
        // microseconds (nanoseconds overflow silently for dates outside 1677-2262).
        let hinted = with_int96_unit(
            &pyarrow_schema(&plain, false),
            &int96,
            TimeUnit::Microsecond,
        );
        let metadata = match ArrowReaderMetadata::try_new(
            plain.metadata().clone(),
            ArrowReaderOptions::new().with_schema(Arc::new(hinted)),
        ) {
            Ok(m) => m,
            Err(_) => plain, // a hint the file cannot take: cast after decoding instead
        };
        // The parquet crate asserts (panics) on a negative column chunk range when it
        // reads the row group: refuse such a footer here (found by fuzzing).
        for (g, group) in metadata.metadata().row_groups().iter().enumerate() {
            for (c, column) in group.columns().iter().enumerate() {
                let start = column
                    .dictionary_page_offset()
                    .unwrap_or(column.data_page_offset());
                if start < 0 || column.compressed_size() < 0 {
                    return Err(at_row(
                        corrupt(
                            path,
                            format!("row group {g}, column {c}: negative byte range in the footer"),
                        ),
                        0,
                    ));
                }
            }
        }
        let groups = 0..metadata.metadata().num_row_groups();
        Ok(ParquetFile {
            path: path.to_string(),
            file,
            metadata,
            batch_size,
            num_threads,
            projection: None,
            target,
            mode: None,
            groups,
            rows: 0,
            deferred: None,
            done: false,
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.target.clone()
    }

    /// Read only row groups `start..stop` (before the first batch); rows are still counted
    /// from the file's start, for error positions.
    pub fn select_row_groups(&mut self, start: usize, stop: usize) -> Result<()> {
        let total = self.metadata.metadata().num_row_groups();
        if start > stop || stop > total {
            return Err(Error::invalid(format!(
                "{}: row_groups {start}..{stop}: the file has {total} row group(s)",
                self.path
            )));
        }
        let groups = self.metadata.metadata().row_groups();
        self.rows = groups[..start].iter().map(|g| g.num_rows() as u64).sum();
        self.groups = start..stop;
        Ok(())
    }

    /// The file's row number of the first row to be returned.
    pub fn first_row(&self) -> u64 {
        self.rows
    }

    /// A decoded batch in the target types; an INT96 value outside the nanosecond range is
    /// refused with its row (pyarrow silently wraps it), after the rows before it: those come
    /// back with the error, which the caller raises on the next call.
    fn conform(&self, batch: RecordBatch) -> Result<(RecordBatch, Option<Error>)> {
        let earliest = self.first_int96_outside(&batch);
        let batch = match &earliest {
            Some((at, _)) => batch.slice(0, *at),
            None => batch,
        };
        Ok((self.conform_checked(batch)?, earliest.map(|(_, e)| e)))
    }

    /// The earliest row of the batch with an INT96 value (at any depth) outside the
    /// nanosecond range: INT96 leaves are decoded in microseconds, so their columns' types
    /// differ from the target's.
    fn first_int96_outside(&self, batch: &RecordBatch) -> Option<(usize, Error)> {
        let indices: Vec<usize> = match &self.projection {
            Some(p) => p.clone(),
            None => (0..self.target.fields().len()).collect(),
        };
        indices
            .iter()
            .zip(batch.columns())
            .filter_map(|(index, column)| {
                let field = self.target.field(*index);
                first_outside_nanoseconds(
                    column,
                    field.data_type(),
                    &self.path,
                    self.rows,
                    field.name(),
                )
            })
            .min_by_key(|(at, _)| *at)
    }

    fn conform_checked(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let indices: Vec<usize> = match &self.projection {
            Some(p) => p.clone(),
            None => (0..self.target.fields().len()).collect(),
        };
        let schema = Arc::new(
            self.target
                .project(&indices)
                .map_err(|e| Error::internal(format!("projection outside the schema: {e}")))?,
        );
        if batch.schema().fields() == schema.fields() {
            return Ok(batch);
        }
        let mut columns = Vec::with_capacity(indices.len());
        // (INT96 ranges were checked by `first_int96_outside` before.)
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            let column = if column.data_type() == field.data_type() {
                column.clone()
            } else {
                arrow_cast::cast(column, field.data_type())
                    .map_err(|e| corrupt(&self.path, format!("column '{}': {e}", field.name())))?
            };
            columns.push(column);
        }
        super::batch_of(&schema, columns, batch.num_rows())
    }

    /// Read only these columns (sorted, unique indices of the schema); before the first batch.
    pub fn project(&mut self, sorted: &[usize]) {
        self.projection = Some(sorted.to_vec());
    }

    fn builder(&self) -> ParquetRecordBatchReaderBuilder<SharedFile> {
        let mut b = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.file.clone(),
            self.metadata.clone(),
        )
        .with_batch_size(self.batch_size.min(DECODE_BATCH));
        if let Some(sorted) = &self.projection {
            let mask = ProjectionMask::roots(b.parquet_schema(), sorted.iter().copied());
            b = b.with_projection(mask);
        }
        b
    }

    fn start(&self) -> Result<Mode> {
        let meta = self.metadata.metadata();
        let groups = &meta.row_groups()[self.groups.clone()];
        let threads = self.threads();
        let small = groups
            .iter()
            .all(|g| g.total_byte_size() <= MAX_GROUP_BYTES);
        if threads > 1 && groups.len() > 1 && small {
            // The first row group streams on the caller's thread (first batch in
            // milliseconds) while the next ones decode on the pool.
            let first = self
                .builder()
                .with_row_groups(vec![self.groups.start])
                .build()
                .map_err(|e| corrupt(&self.path, e))?;
            return Ok(Mode::Ahead {
                first: Some(first),
                next_group: self.groups.start + 1,
                in_flight: Ahead::new(self.num_threads)?,
                ready: VecDeque::new(),
                failed: None,
            });
        }
        let reader = self
            .builder()
            .with_row_groups(self.groups.clone().collect())
            .build()
            .map_err(|e| corrupt(&self.path, e))?;
        Ok(Mode::Streaming(reader))
    }

    /// Queue row groups on the pool until `threads` are in flight.
    fn refill(&mut self) -> Result<()> {
        let threads = self.threads();
        let total = self.groups.end;
        let (first, count) = match &self.mode {
            Some(Mode::Ahead {
                next_group,
                in_flight,
                ..
            }) => (
                *next_group,
                threads
                    .saturating_sub(in_flight.len())
                    .min(total - *next_group),
            ),
            _ => return Ok(()),
        };
        if count == 0 {
            return Ok(());
        }
        let jobs: Vec<_> = (first..first + count)
            .map(|group| {
                (
                    self.builder().with_row_groups(vec![group]),
                    self.path.clone(),
                )
            })
            .collect();
        if let Some(Mode::Ahead {
            next_group,
            in_flight,
            ..
        }) = self.mode.as_mut()
        {
            *next_group += count;
            for (builder, path) in jobs {
                in_flight.push(move || decode_group(&path, builder));
            }
        }
        Ok(())
    }

    fn threads(&self) -> usize {
        pool::threads(self.num_threads)
    }

    pub fn next(&mut self) -> Result<Option<RecordBatch>> {
        if let Some(e) = self.deferred.take() {
            self.done = true;
            return Err(e);
        }
        if self.done {
            return Ok(None);
        }
        match self.next_batch() {
            Ok(Some(batch)) => {
                let (batch, error) = self.conform(batch)?;
                self.rows += batch.num_rows() as u64;
                if let Some(e) = error {
                    if batch.num_rows() == 0 {
                        return Err(e);
                    }
                    self.deferred = Some(e);
                }
                Ok(Some(batch))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(at_row(e, self.rows)),
        }
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.mode.is_none() {
            self.mode = Some(self.start()?);
            self.refill()?;
        }
        loop {
            let Some(Mode::Ahead {
                first,
                in_flight,
                ready,
                failed,
                ..
            }) = self.mode.as_mut()
            else {
                let Some(Mode::Streaming(reader)) = self.mode.as_mut() else {
                    unreachable!("started above")
                };
                return super::decoder_guard(|| reader.next())
                    .map_err(|m| corrupt(&self.path, m))?
                    .transpose()
                    .map_err(|e| corrupt(&self.path, e));
            };
            if let Some(reader) = first.as_mut() {
                let next = super::decoder_guard(|| reader.next())
                    .unwrap_or_else(|m| Some(Err(arrow_schema::ArrowError::ParquetError(m))));
                match next {
                    Some(Ok(batch)) => return Ok(Some(batch)),
                    Some(Err(e)) => {
                        *first = None;
                        in_flight.clear();
                        return Err(corrupt(&self.path, e));
                    }
                    None => {
                        *first = None;
                        continue;
                    }
                }
            }
            if let Some(batch) = ready.pop_front() {
                return Ok(Some(batch));
            }
            if let Some(e) = failed.take() {
                in_flight.clear();
                return Err(e);
            }
            let Some((batches, error)) = in_flight.pop()? else {
                return Ok(None);
            };
            ready.extend(batches);
            *failed = error;
            // Keep `threads` row groups decoding while this one is consumed.
            self.refill()?;
        }
    }
}

fn decode_group(path: &str, builder: ParquetRecordBatchReaderBuilder<SharedFile>) -> Group {
    super::decoder_guard(|| decode_group_unguarded(path, builder))
        .unwrap_or_else(|m| (Vec::new(), Some(corrupt(path, m))))
}

fn decode_group_unguarded(
    path: &str,
    builder: ParquetRecordBatchReaderBuilder<SharedFile>,
) -> Group {
    let reader = match builder.build() {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(corrupt(path, e))),
    };
    let mut out = Vec::new();
    for batch in reader {
        match batch {
            Ok(b) => out.push(b),
            Err(e) => return (out, Some(corrupt(path, e))),
        }
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_schema::DataType;

    /// Fixtures written by pyarrow (testdata/make_parquet_types.py, which prints the schema
    /// `pyarrow.parquet.read_table` gives: the one expected here).
    fn fixture(name: &str) -> (String, ParquetFile) {
        let path = format!("{}/src/read/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        let file = File::open(&path).unwrap();
        let reader = ParquetFile::open(&path, file, 1024, 1).unwrap();
        (path, reader)
    }

    #[test]
    fn pyarrow_written_date64_int96_and_map_read_as_pyarrow_types_them() {
        let (_, mut reader) = fixture("types.parquet");
        let schema = reader.schema();
        assert_eq!(schema.field(0).data_type(), &DataType::Date32);
        assert_eq!(
            schema.field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, None)
        );
        let DataType::Map(entries, _) = schema.field(2).data_type() else {
            panic!("m is a map: {schema}")
        };
        assert_eq!(entries.name(), "m");
        let batch = reader.next().unwrap().unwrap();
        assert_eq!(batch.schema().fields(), schema.fields());
        let ts = batch
            .column(1)
            .as_primitive::<arrow_array::types::TimestampNanosecondType>();
        assert_eq!(ts.value(0), 1_577_880_000_000_000_000); // 2020-01-01 12:00
        let days = batch
            .column(0)
            .as_primitive::<arrow_array::types::Date32Type>();
        assert_eq!(days.value(0), 18_262);
    }

    #[test]
    fn an_int96_date_outside_the_nanosecond_range_is_refused_with_its_row() {
        let (path, mut reader) = fixture("int96_far.parquet");
        // The row before it first, then the error naming the row.
        assert_eq!(reader.next().unwrap().unwrap().num_rows(), 1);
        match reader.next() {
            Err(Error::DataFormat {
                path: p, position, ..
            }) => {
                assert_eq!(p, path);
                assert_eq!(position, Some(Position::Row(1)));
            }
            other => panic!("expected a DataFormat error, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn int96_below_the_top_level_reads_as_nanoseconds_as_pyarrow() {
        let (_, mut reader) = fixture("int96_nested.parquet");
        let ns = DataType::Timestamp(TimeUnit::Nanosecond, None);
        let schema = reader.schema();
        let DataType::List(item) = schema.field(1).data_type() else {
            panic!("l is a list: {schema}")
        };
        assert_eq!(item.data_type(), &ns);
        let DataType::Struct(children) = schema.field(2).data_type() else {
            panic!("s is a struct: {schema}")
        };
        assert_eq!(children[0].data_type(), &ns);
        let batch = reader.next().unwrap().unwrap();
        assert_eq!(batch.schema().fields(), schema.fields());
        let items = batch.column(1).as_list::<i32>().values().clone();
        let items = items.as_primitive::<arrow_array::types::TimestampNanosecondType>();
        assert_eq!(items.value(0), 946_684_800_000_000_000); // 2000-01-01
    }

    #[test]
    fn int96_outside_nanoseconds_in_a_list_names_the_row_after_the_rows_before_it() {
        let (path, mut reader) = fixture("int96_nested_far.parquet");
        assert_eq!(reader.next().unwrap().unwrap().num_rows(), 2);
        match reader.next() {
            Err(Error::DataFormat {
                path: p, position, ..
            }) => {
                assert_eq!(p, path);
                assert_eq!(position, Some(Position::Row(2)));
            }
            other => panic!("expected a DataFormat error, got {:?}", other.map(|_| ())),
        }
        // Without the list, the struct's far value (row 3) is the first.
        let (_, mut reader) = fixture("int96_nested_far.parquet");
        reader.project(&[0, 2, 3]);
        assert_eq!(reader.next().unwrap().unwrap().num_rows(), 3);
        match reader.next() {
            Err(Error::DataFormat { position, .. }) => assert_eq!(position, Some(Position::Row(3))),
            other => panic!("expected a DataFormat error, got {:?}", other.map(|_| ())),
        }
    }
}
