//! Parquet and Arrow IPC (file and stream format, Feather v2) sources.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use arrow_array::RecordBatch;
use arrow_ipc::reader::{FileReader, StreamReader};
use arrow_schema::SchemaRef;

use super::input::{open_decoded, open_file, read_head, spool};
use super::parquet::ParquetFile;
use super::{same_columns, Compression, Format, Source};
use crate::error::{Error, Position, Result};

/// A Parquet/IPC decoding failure. `rows`: rows of this file read correctly before it (the
/// damage lies at or after that row; 0 when the file cannot even be opened).
fn corrupt(path: &str, rows: u64, e: impl std::fmt::Display) -> Error {
    Error::data(
        path,
        Some(Position::Row(rows)),
        format!("corrupt or truncated file: {e}"),
    )
}

/// Prepends already-read bytes to a reader.
struct Prefixed<R> {
    head: Vec<u8>,
    at: usize,
    inner: R,
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at < self.head.len() {
            let n = buf.len().min(self.head.len() - self.at);
            buf[..n].copy_from_slice(&self.head[self.at..self.at + n]);
            self.at += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// A buffered reader that can tell "fewer than 4 bytes left" from "at a boundary":
/// arrow-rs ends a stream quietly when the input stops inside the 4-byte
/// continuation marker of the next message, where pyarrow (and the reference) report a
/// truncated file. [`StreamInput::partial_marker`] lets us do the same.
struct StreamInput<R> {
    inner: R,
    buf: Vec<u8>,
    at: usize,
}

impl<R: Read> StreamInput<R> {
    fn new(inner: R) -> Self {
        StreamInput {
            inner,
            buf: Vec::with_capacity(1 << 16),
            at: 0,
        }
    }

    /// Whether the input ends within the next 4 bytes without ending right here.
    fn partial_marker(&mut self) -> std::io::Result<bool> {
        while self.buf.len() - self.at < 4 {
            self.buf.drain(..self.at);
            self.at = 0;
            let have = self.buf.len();
            self.buf.resize(have + 4096, 0);
            let n = loop {
                match self.inner.read(&mut self.buf[have..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(have);
                        return Err(e);
                    }
                }
            };
            self.buf.truncate(have + n);
            if n == 0 {
                return Ok(!self.buf.is_empty());
            }
        }
        Ok(false)
    }
}

impl<R: Read> Read for StreamInput<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buf.len() {
            if out.len() >= self.buf.capacity() {
                return self.inner.read(out); // large body reads bypass the buffer
            }
            self.buf.clear();
            self.at = 0;
            self.buf.resize(self.buf.capacity().max(1 << 16), 0);
            let n = self
                .inner
                .read(&mut self.buf)
                .inspect_err(|_| self.buf.clear())?;
            self.buf.truncate(n);
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

type Stream = StreamReader<StreamInput<Prefixed<Box<dyn BufRead + Send>>>>;

enum Open {
    Parquet(Box<ParquetFile>),
    IpcFile(Box<FileReader<BufReader<File>>>),
    IpcStream(Box<Stream>),
}

struct OneFile {
    path: String,
    schema: SchemaRef,
    open: Open,
    /// Projection applied per batch (streams, whose reader cannot be rebuilt).
    post: Option<Vec<usize>>,
    /// Rows returned so far, for error positions.
    rows: u64,
}

impl OneFile {
    fn open(
        path: &str,
        format: Format,
        compression: Option<Compression>,
        batch_size: usize,
        num_threads: usize,
    ) -> Result<Self> {
        if format == Format::Parquet {
            let file = match compression {
                None => open_file(path)?,
                Some(c) => spool(path, c)?,
            };
            let reader = ParquetFile::open(path, file, batch_size, num_threads)?;
            return Ok(OneFile {
                path: path.to_string(),
                schema: reader.schema(),
                open: Open::Parquet(Box::new(reader)),
                post: None,
                rows: 0,
            });
        }
        let mut input = open_decoded(path, compression)?;
        let head = read_head(path, &mut input, 8)?;
        if head.starts_with(b"FEA1") {
            return Err(Error::UnsupportedFormat(format!(
                "{path}: Feather v1 files are not supported (rewrite as Feather v2 / Arrow IPC)"
            )));
        }
        let is_file = head.starts_with(b"ARROW1");
        if is_file && compression.is_none() {
            drop(input);
            let reader = FileReader::try_new_buffered(open_file(path)?, None)
                .map_err(|e| corrupt(path, 0, e))?;
            return Ok(OneFile {
                path: path.to_string(),
                schema: reader.schema(),
                open: Open::IpcFile(Box::new(reader)),
                post: None,
                rows: 0,
            });
        }
        // The IPC file format is "ARROW1\0\0" + a stream + a footer: read its stream part.
        let head = if is_file { Vec::new() } else { head };
        let reader = StreamReader::try_new(
            StreamInput::new(Prefixed {
                head,
                at: 0,
                inner: input,
            }),
            None,
        )
        .map_err(|e| corrupt(path, 0, e))?;
        Ok(OneFile {
            path: path.to_string(),
            schema: reader.schema(),
            open: Open::IpcStream(Box::new(reader)),
            post: None,
            rows: 0,
        })
    }

    /// Read only these columns (sorted, unique indices of the schema).
    fn project(&mut self, sorted: &[usize]) -> Result<()> {
        let path = self.path.clone();
        match &mut self.open {
            Open::Parquet(reader) => reader.project(sorted),
            Open::IpcFile(reader) => {
                // FileReader takes its projection at construction: reopen with it.
                **reader = FileReader::try_new_buffered(open_file(&path)?, Some(sorted.to_vec()))
                    .map_err(|e| corrupt(&path, 0, e))?;
            }
            Open::IpcStream(_) => self.post = Some(sorted.to_vec()),
        }
        Ok(())
    }

    fn next(&mut self) -> Result<Option<RecordBatch>> {
        crate::cancel::check()?;
        let path = &self.path;
        let rows = self.rows;
        let bad = |e: &dyn std::fmt::Display| corrupt(path, rows, e);
        let batch = match &mut self.open {
            Open::Parquet(reader) => reader.next()?,
            Open::IpcFile(r) => super::decoder_guard(|| r.next())
                .map_err(|m| bad(&m))?
                .transpose()
                .map_err(|e| bad(&e))?,
            Open::IpcStream(r) => {
                if r.get_mut().partial_marker().map_err(|e| bad(&e))? {
                    return Err(bad(&"the stream ends inside a message marker"));
                }
                super::decoder_guard(|| r.next())
                    .map_err(|m| bad(&m))?
                    .transpose()
                    .map_err(|e| bad(&e))?
            }
        };
        let batch = match (batch, &self.post) {
            (Some(b), Some(p)) => Some(b.project(p).map_err(|e| bad(&e))?),
            (batch, _) => batch,
        };
        if let Some(b) = &batch {
            self.rows += b.num_rows() as u64;
        }
        Ok(batch)
    }
}

/// Parquet or IPC files read one after the other; the first file's schema is the
/// dataset's, and every later file must have the same column names and types.
pub struct ArrowFiles {
    paths: Vec<String>,
    format: Format,
    compression: Option<Compression>,
    batch_size: usize,
    num_threads: usize,
    schema: SchemaRef,
    current: Option<OneFile>,
    next_index: usize,
    projection: Option<Vec<usize>>,
}

impl ArrowFiles {
    pub fn open(
        paths: Vec<String>,
        format: Format,
        compression: Option<Compression>,
        batch_size: usize,
        num_threads: usize,
    ) -> Result<Self> {
        let (schema, current) = match paths.first() {
            Some(p) => {
                let f = OneFile::open(p, format, compression, batch_size, num_threads)?;
                (f.schema.clone(), Some(f))
            }
            None => (SchemaRef::new(arrow_schema::Schema::empty()), None),
        };
        Ok(ArrowFiles {
            paths,
            format,
            compression,
            batch_size,
            num_threads,
            schema,
            current,
            next_index: 1,
            projection: None,
        })
    }
}

impl Source for ArrowFiles {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn push_projection(&mut self, sorted: &[usize]) -> Result<bool> {
        self.projection = Some(sorted.to_vec());
        if let Some(f) = self.current.as_mut() {
            f.project(sorted)?;
        }
        Ok(true)
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            let Some(current) = self.current.as_mut() else {
                if self.next_index >= self.paths.len() {
                    return Ok(None);
                }
                let path = self.paths[self.next_index].clone();
                self.next_index += 1;
                let mut f = OneFile::open(
                    &path,
                    self.format,
                    self.compression,
                    self.batch_size,
                    self.num_threads,
                )?;
                if !same_columns(&f.schema, &self.schema) {
                    return Err(Error::SchemaMismatch {
                        path: path.clone(),
                        position: None,
                        message: format!(
                            "its columns ({}) differ from those of {} ({})",
                            f.schema, self.paths[0], self.schema
                        ),
                    });
                }
                if let Some(p) = &self.projection {
                    f.project(p)?;
                }
                self.current = Some(f);
                continue;
            };
            match current.next()? {
                Some(batch) => return Ok(Some(batch)),
                None => self.current = None,
            }
        }
    }
}
