//! Parquet and Arrow IPC (file and stream format, Feather v2) sources.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::convert::try_fb_to_schema;
use arrow_ipc::reader::{read_footer_length, FileDecoder};
use arrow_ipc::{
    root_as_footer_with_opts, root_as_message_with_opts, Block, Message, MetadataVersion,
};
use arrow_schema::SchemaRef;

use super::ipcguard;
use super::parquet::ParquetFile;
use super::source::{Input, Inputs};
use super::{same_columns, Format, Source};
use crate::error::{Error, Position, Result};
use stream::{read_body, IpcStream};

mod stream;

/// A Parquet/IPC decoding failure. `rows`: rows of this file read correctly before it (the
/// damage lies at or after that row; 0 when the file cannot even be opened).
fn corrupt(path: &str, rows: u64, e: impl std::fmt::Display) -> Error {
    Error::data(
        path,
        Some(Position::Row(rows)),
        format!("corrupt or truncated file: {e}"),
    )
}

/// Flatbuffer verification allowing schemas nested 62 levels deep (each level costs the
/// verifier about three: the default 64 stops near 20 levels, which pyarrow reads).
fn verifier() -> flatbuffers::VerifierOptions {
    flatbuffers::VerifierOptions {
        max_depth: 4 * (ipcguard::MAX_NESTING + 8),
        ..Default::default()
    }
}

/// A message's flatbuffer (verified).
fn parse(meta: &[u8]) -> std::result::Result<Message<'_>, String> {
    root_as_message_with_opts(&verifier(), meta)
        .map_err(|e| format!("Unable to get root as message: {e:?}"))
}

/// The IPC file format (random access through the footer), decoded with arrow-ipc's
/// `FileDecoder` after each block is checked ([`ipcguard::check_message`]); the same steps
/// as arrow-ipc's `FileReader`, whose block reads are private.
struct IpcFile {
    file: BufReader<File>,
    decoder: FileDecoder,
    blocks: Vec<Block>,
    next: usize,
    schema: SchemaRef,
}

impl IpcFile {
    fn open(file: File, projection: Option<Vec<usize>>) -> std::result::Result<Self, String> {
        let mut file = BufReader::new(file);
        let err = |e: std::io::Error| e.to_string();
        let mut trailer = [0u8; 10];
        file.seek(SeekFrom::End(-10)).map_err(err)?;
        file.read_exact(&mut trailer).map_err(err)?;
        let footer_len = read_footer_length(trailer).map_err(|e| e.to_string())?;
        let file_len = file.seek(SeekFrom::End(0)).map_err(err)?;
        if footer_len as u64 + 10 > file_len {
            return Err(format!(
                "Invalid footer length: {footer_len} (the file has {file_len} bytes)"
            ));
        }
        let mut footer_data = vec![0; footer_len];
        file.seek(SeekFrom::End(-10 - footer_len as i64))
            .map_err(err)?;
        file.read_exact(&mut footer_data).map_err(err)?;
        let footer = root_as_footer_with_opts(&verifier(), &footer_data)
            .map_err(|e| format!("Unable to get root as footer: {e:?}"))?;
        let blocks: Vec<Block> = footer
            .recordBatches()
            .ok_or("Unable to get record batches from IPC Footer")?
            .iter()
            .copied()
            .collect();
        let ipc_schema = footer
            .schema()
            .ok_or("Unable to get schema from IPC Footer")?;
        if !ipc_schema.endianness().equals_to_target_endianness() {
            return Err("the endianness of the source system does not match the endianness of the target system.".into());
        }
        let schema = Arc::new(try_fb_to_schema(ipc_schema).map_err(|e| e.to_string())?);
        let projected = match &projection {
            Some(p) => Arc::new(schema.project(p).map_err(|e| e.to_string())?),
            None => schema.clone(),
        };
        if let Some(metadata) = footer.custom_metadata() {
            if metadata
                .iter()
                .any(|kv| kv.key().is_none() || kv.value().is_none())
            {
                return Err("Custom metadata in the IPC footer is missing a key or a value".into());
            }
        }
        let dictionary_blocks: Vec<Block> = footer
            .dictionaries()
            .map(|d| d.iter().copied().collect())
            .unwrap_or_default();
        // FileDecoder wants every message at one version. pyarrow writes a V5 footer over
        // V4 messages when asked for V4, so the messages' version is the one to decode with.
        let version = match dictionary_blocks.first().or(blocks.first()) {
            Some(block) => block_version(&mut file, block)?,
            None => footer.version(),
        };
        ipcguard::check_version(version)?;
        ipcguard::check_version(footer.version())?;
        let mut decoder = FileDecoder::new(schema, version);
        if let Some(p) = projection {
            decoder = decoder.with_projection(p);
        }
        for block in &dictionary_blocks {
            let buf = read_block(&mut file, block)?;
            super::decoder_guard(|| decoder.read_dictionary(block, &buf))?
                .map_err(|e| e.to_string())?;
        }
        Ok(IpcFile {
            file,
            decoder,
            blocks,
            next: 0,
            schema: projected,
        })
    }

    fn next(&mut self) -> std::result::Result<Option<RecordBatch>, String> {
        let Some(block) = self.blocks.get(self.next).copied() else {
            return Ok(None);
        };
        self.next += 1;
        let buf = read_block(&mut self.file, &block)?;
        let decoder = &self.decoder;
        let batch = super::decoder_guard(|| decoder.read_record_batch(&block, &buf))?
            .map_err(|e| e.to_string())?;
        if batch.is_none() {
            self.next = self.blocks.len(); // a message without header ends the file (as FileReader)
        }
        Ok(batch)
    }
}

/// The metadata version of a block's message (only its metadata is read).
fn block_version(
    file: &mut BufReader<File>,
    block: &Block,
) -> std::result::Result<MetadataVersion, String> {
    let offset = u64::try_from(block.offset())
        .map_err(|_| format!("Invalid block offset: {}", block.offset()))?;
    let meta_len = usize::try_from(block.metaDataLength())
        .map_err(|_| format!("Invalid block metadata length: {}", block.metaDataLength()))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| e.to_string())?;
    let buf = read_body(file, meta_len)?;
    let skip = if buf.get(..4) == Some(&[0xFF; 4][..]) {
        8
    } else {
        4
    };
    let meta = buf.get(skip..).ok_or("a block too short for its message")?;
    Ok(parse(meta)?.version())
}

/// A block's bytes (metadata, then body), checked: a record or dictionary batch whose
/// compressed buffers declare impossible sizes is refused here, before any decoding.
fn read_block(file: &mut BufReader<File>, block: &Block) -> std::result::Result<Buffer, String> {
    let offset = u64::try_from(block.offset())
        .map_err(|_| format!("Invalid block offset: {}", block.offset()))?;
    let meta_len = usize::try_from(block.metaDataLength())
        .map_err(|_| format!("Invalid block metadata length: {}", block.metaDataLength()))?;
    let body_len = usize::try_from(block.bodyLength())
        .map_err(|_| format!("Invalid block body length: {}", block.bodyLength()))?;
    let total = meta_len
        .checked_add(body_len)
        .ok_or("Invalid block length")?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| e.to_string())?;
    let buf = read_body(file, total)?;
    // The message as FileDecoder finds it: after the continuation marker (if any) and length.
    let skip = if buf.get(..4) == Some(&[0xFF; 4][..]) {
        8
    } else {
        4
    };
    let meta = buf.get(skip..).ok_or("a block too short for its message")?;
    let message = parse(meta)?;
    ipcguard::check_message(&message, &buf[meta_len..])?;
    Ok(buf)
}

enum Open {
    Parquet(Box<ParquetFile>),
    /// The reader and a handle on its file: the decoder takes its projection at
    /// construction, so projecting reopens it on the same (possibly spooled) file.
    IpcFile(Box<IpcFile>, File),
    IpcStream(Box<IpcStream<Box<dyn BufRead + Send>>>),
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
    /// One input, opened once by [`Inputs`]: a compressed or piped input is spooled to a
    /// temporary file where random access is needed (Parquet, the IPC file format).
    fn open(
        input: Input,
        format: Format,
        batch_size: usize,
        num_threads: usize,
        row_groups: Option<(usize, usize)>,
    ) -> Result<Self> {
        let path = input.path.to_string();
        let one = |schema: SchemaRef, open: Open| {
            ipcguard::check_depth(&schema).map_err(|e| Error::data(&path, None, e))?;
            Ok(OneFile {
                path: path.clone(),
                schema,
                open,
                post: None,
                rows: 0,
            })
        };
        if format == Format::Parquet {
            let mut reader = ParquetFile::open(&path, input.into_file()?, batch_size, num_threads)?;
            if let Some((start, stop)) = row_groups {
                reader.select_row_groups(start, stop)?;
            }
            let rows = reader.first_row();
            let mut opened = one(reader.schema(), Open::Parquet(Box::new(reader)))?;
            opened.rows = rows;
            return Ok(opened);
        }
        let mut input = input;
        let head = input.head(8)?;
        if head.starts_with(b"FEA1") {
            return Err(Error::UnsupportedFormat(format!(
                "{path}: Feather v1 files are not supported (rewrite as Feather v2 / Arrow IPC)"
            )));
        }
        if head.starts_with(b"ARROW1") {
            let file = input.into_file()?;
            let again = file.try_clone().map_err(|e| Error::io(&path, e))?;
            let reader = IpcFile::open(file, None).map_err(|e| corrupt(&path, 0, e))?;
            return one(
                reader.schema.clone(),
                Open::IpcFile(Box::new(reader), again),
            );
        }
        let reader = IpcStream::open(input.into_bytes()).map_err(|e| corrupt(&path, 0, e))?;
        one(reader.schema.clone(), Open::IpcStream(Box::new(reader)))
    }

    /// Read only these columns (sorted, unique indices of the schema).
    fn project(&mut self, sorted: &[usize]) -> Result<()> {
        let path = &self.path;
        match &mut self.open {
            Open::Parquet(reader) => reader.project(sorted),
            Open::IpcFile(reader, file) => {
                let file = file.try_clone().map_err(|e| Error::io(path, e))?;
                **reader =
                    IpcFile::open(file, Some(sorted.to_vec())).map_err(|e| corrupt(path, 0, e))?;
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
            Open::IpcFile(r, _) => r.next().map_err(|m| bad(&m))?,
            Open::IpcStream(r) => r.next().map_err(|m| bad(&m))?,
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

/// A later file's batch in the dataset's (projected) schema. A column the first file
/// declares non-nullable may be nullable in a later one: a null there is refused (with
/// the row), never delivered in a column that promises none. The rows before the earliest
/// such null come back with the error, which the caller raises on the next call.
fn conform(
    batch: RecordBatch,
    schema: &SchemaRef,
    path: &str,
    first_row: u64,
) -> Result<(RecordBatch, Option<Error>)> {
    let mismatch = |position, message: String| Error::SchemaMismatch {
        path: path.to_string(),
        position,
        message,
    };
    let earliest = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(field, column)| !field.is_nullable() && column.null_count() > 0)
        .filter_map(|(field, column)| {
            (0..column.len())
                .find(|&i| column.is_null(i))
                .map(|at| (at, field.name().clone()))
        })
        .min_by_key(|(at, _)| *at);
    let (batch, error) = match earliest {
        None => (batch, None),
        Some((at, name)) => (
            batch.slice(0, at),
            Some(mismatch(
                Some(Position::Row(first_row + at as u64)),
                format!("a null in column '{name}', which the first file declares non-nullable"),
            )),
        ),
    };
    let rows = batch.num_rows();
    let batch = super::batch_of(schema, batch.columns().to_vec(), rows).map_err(|e| {
        mismatch(
            None,
            format!("its batch does not fit the first file's schema: {e}"),
        )
    })?;
    Ok((batch, error))
}

/// Parquet or IPC files read one after the other; the first file's schema is the
/// dataset's, and every later file must have the same column names and types.
pub struct ArrowFiles {
    inputs: Inputs,
    format: Format,
    batch_size: usize,
    num_threads: usize,
    schema: SchemaRef,
    /// The schema batches are delivered in (the dataset's, projected).
    output: SchemaRef,
    first_path: String,
    /// The file being read, and whether it is the first (whose batches define the schema).
    current: Option<(OneFile, bool)>,
    projection: Option<Vec<usize>>,
    /// An error found in a batch whose good rows were returned first; raised next.
    deferred: Option<Error>,
    /// Parquet, one file: the row groups read (`ReadOptions::row_groups`).
    row_groups: Option<(usize, usize)>,
}

impl ArrowFiles {
    #[cfg(test)]
    pub fn open(
        paths: Vec<String>,
        format: Format,
        compression: Option<super::Compression>,
        batch_size: usize,
        num_threads: usize,
    ) -> Result<Self> {
        let inputs = Inputs::new(paths, compression);
        Self::from_inputs(inputs, format, batch_size, num_threads, None)
    }

    /// Over inputs the reader may have started (its first one opened to sniff the format).
    pub fn from_inputs(
        mut inputs: Inputs,
        format: Format,
        batch_size: usize,
        num_threads: usize,
        row_groups: Option<(usize, usize)>,
    ) -> Result<Self> {
        let (schema, first_path, current) = match inputs.next_input()? {
            Some(input) => {
                let f = OneFile::open(input, format, batch_size, num_threads, row_groups)?;
                (f.schema.clone(), Some(f.path.clone()), Some(f))
            }
            None => (SchemaRef::new(arrow_schema::Schema::empty()), None, None),
        };
        Ok(ArrowFiles {
            inputs,
            format,
            batch_size,
            num_threads,
            output: schema.clone(),
            schema,
            first_path: first_path.unwrap_or_default(),
            current: current.map(|f| (f, true)),
            projection: None,
            deferred: None,
            row_groups,
        })
    }

    /// The next batch, or the error that ends the read.
    fn advance(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            let Some((current, first)) = self.current.as_mut() else {
                let Some(input) = self.inputs.next_input()? else {
                    return Ok(None);
                };
                let mut f = OneFile::open(
                    input,
                    self.format,
                    self.batch_size,
                    self.num_threads,
                    self.row_groups,
                )?;
                if !same_columns(&f.schema, &self.schema) {
                    return Err(Error::SchemaMismatch {
                        path: f.path.clone(),
                        position: None,
                        message: format!(
                            "its columns ({}) differ from those of {} ({})",
                            f.schema, self.first_path, self.schema
                        ),
                    });
                }
                if let Some(p) = &self.projection {
                    f.project(p)?;
                }
                self.current = Some((f, false));
                continue;
            };
            match current.next()? {
                Some(batch) if *first => return Ok(Some(batch)),
                Some(batch) => {
                    let first_row = current.rows - batch.num_rows() as u64;
                    let (batch, error) = conform(batch, &self.output, &current.path, first_row)?;
                    if let Some(e) = error {
                        if batch.num_rows() == 0 {
                            return Err(e);
                        }
                        self.deferred = Some(e);
                    }
                    return Ok(Some(batch));
                }
                None => self.current = None,
            }
        }
    }
}

impl Source for ArrowFiles {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn push_projection(&mut self, sorted: &[usize]) -> Result<bool> {
        self.output = Arc::new(
            self.schema
                .project(sorted)
                .map_err(|e| Error::internal(format!("a projection outside the schema: {e}")))?,
        );
        self.projection = Some(sorted.to_vec());
        if let Some((f, _)) = self.current.as_mut() {
            f.project(sorted)?;
        }
        Ok(true)
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        match self.deferred.take() {
            Some(e) => Err(e),
            None => self.advance(),
        }
    }
}

#[cfg(test)]
mod tests;
