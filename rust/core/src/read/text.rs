//! Text: one row per line in column `text` (string); the `\n` and one trailing `\r` are
//! removed; a last line without `\n` is a row, an empty remainder after the last is not.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::source::{Lines, MAX_LINE};
use super::{batch_of, Compression, Source};
use crate::error::{Error, Position, Result};

pub struct TextSource {
    paths: Vec<String>,
    next: usize,
    compression: Option<Compression>,
    current: Option<Lines>,
    batch_size: usize,
    skip_bad: bool,
    skipped: u64,
    schema: SchemaRef,
}

impl TextSource {
    pub fn new(
        paths: Vec<String>,
        compression: Option<Compression>,
        batch_size: usize,
        skip_bad: bool,
    ) -> Self {
        TextSource {
            paths,
            next: 0,
            compression,
            current: None,
            batch_size,
            skip_bad,
            skipped: 0,
            schema: Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, true)])),
        }
    }
}

impl Source for TextSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut builder = StringBuilder::new();
        let mut rows = 0;
        while rows < self.batch_size {
            let Some(lines) = self.current.as_mut() else {
                if self.next >= self.paths.len() {
                    break;
                }
                self.current = Some(Lines::open(&self.paths[self.next], self.compression)?);
                self.next += 1;
                continue;
            };
            match lines.next_line()? {
                None => self.current = None,
                Some((number, line)) => {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    match std::str::from_utf8(line) {
                        Ok(text) => {
                            if builder.values_slice().len() + text.len() > MAX_LINE {
                                return Err(Error::data(
                                    lines.path.clone(),
                                    Some(Position::Line(number)),
                                    "this batch would hold more than 2 GiB of text (the limit of \
                                     one Arrow string column): use a smaller batch_size",
                                ));
                            }
                            builder.append_value(text);
                            rows += 1;
                        }
                        Err(_) if self.skip_bad => self.skipped += 1,
                        Err(_) => {
                            return Err(Error::data(
                                lines.path.clone(),
                                Some(Position::Line(number)),
                                "invalid UTF-8",
                            ))
                        }
                    }
                }
            }
        }
        if rows == 0 {
            return Ok(None);
        }
        batch_of(&self.schema, vec![Arc::new(builder.finish())], rows).map(Some)
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}
