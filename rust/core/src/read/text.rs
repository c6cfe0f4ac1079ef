//! Text: one row per line in column `text` (string); the `\n` and one trailing `\r` are
//! removed; a last line without `\n` is a row, an empty remainder after the last is not.
//!
//! Good rows first: a line that ends the read (over the length limit, invalid UTF-8 without
//! `on_error="skip"`, an I/O error) is returned after the batch of the lines before it, on
//! the next call.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::source::{Inputs, Lines, MAX_LINE};
use super::{batch_of, Source};
use crate::error::{Error, Position, Result};

/// What a bad line means for the read: a typed property, never read from the message.
enum Bad {
    /// A malformed line (invalid UTF-8): dropped and counted under `on_error="skip"`.
    Skippable(Error),
    /// The read cannot go on (I/O, a line over the limit, a batch over 2 GiB).
    Fatal(Error),
}

pub struct TextSource {
    inputs: Inputs,
    current: Option<Lines>,
    batch_size: usize,
    skip_bad: bool,
    skipped: u64,
    schema: SchemaRef,
    /// The error that ended the last batch, returned on the next call.
    deferred: Option<Error>,
    done: bool,
}

impl TextSource {
    #[cfg(test)]
    pub fn new(
        paths: Vec<String>,
        compression: Option<super::Compression>,
        batch_size: usize,
        skip_bad: bool,
    ) -> Self {
        Self::from_inputs(Inputs::new(paths, compression), batch_size, skip_bad)
    }

    /// Over inputs the reader may have started (its first one opened to sniff the format).
    pub fn from_inputs(inputs: Inputs, batch_size: usize, skip_bad: bool) -> Self {
        TextSource {
            inputs,
            current: None,
            batch_size,
            skip_bad,
            skipped: 0,
            schema: Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, true)])),
            deferred: None,
            done: false,
        }
    }

    /// Append the next line to `builder` (Ok(false) at the end of the last input).
    fn next_line(&mut self, builder: &mut StringBuilder) -> std::result::Result<bool, Bad> {
        loop {
            let Some(lines) = self.current.as_mut() else {
                match self.inputs.next_input().map_err(Bad::Fatal)? {
                    None => return Ok(false),
                    Some(input) => self.current = Some(Lines::new(input)),
                }
                continue;
            };
            let Some((number, line)) = lines.next_line().map_err(Bad::Fatal)? else {
                self.current = None;
                continue;
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let position = Some(Position::Line(number));
            let Ok(text) = std::str::from_utf8(line) else {
                return Err(Bad::Skippable(Error::data(
                    lines.path.clone(),
                    position,
                    "invalid UTF-8",
                )));
            };
            if builder.values_slice().len() + text.len() > MAX_LINE {
                return Err(Bad::Fatal(Error::data(
                    lines.path.clone(),
                    position,
                    "this batch would hold more than 2 GiB of text (the limit of one Arrow \
                     string column): use a smaller batch_size",
                )));
            }
            builder.append_value(text);
            return Ok(true);
        }
    }
}

impl Source for TextSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if let Some(e) = self.deferred.take() {
            self.done = true;
            return Err(e);
        }
        if self.done {
            return Ok(None);
        }
        let mut builder = StringBuilder::new();
        let mut rows = 0;
        while rows < self.batch_size {
            match self.next_line(&mut builder) {
                Ok(true) => rows += 1,
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(Bad::Skippable(_)) if self.skip_bad => self.skipped += 1,
                Err(Bad::Skippable(e) | Bad::Fatal(e)) => {
                    if rows == 0 {
                        self.done = true;
                        return Err(e);
                    }
                    self.deferred = Some(e);
                    break;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, data: &[u8]) -> String {
        let dir = std::env::temp_dir().join(format!("fa-text-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        path.display().to_string()
    }

    #[test]
    fn good_lines_before_invalid_utf8_then_the_error() {
        let path = temp("bad.txt", b"a\nb\r\nc\n\xff\nd\n");
        let mut source = TextSource::new(vec![path.clone()], None, 10, false);
        let batch = source.next_batch().unwrap().unwrap();
        assert_eq!(batch.num_rows(), 3);
        match source.next_batch() {
            Err(Error::DataFormat {
                path: p, position, ..
            }) => {
                assert_eq!(p, path);
                assert_eq!(position, Some(Position::Line(4)));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(source.next_batch().unwrap().is_none());
    }

    #[test]
    fn skip_counts_each_bad_line_once() {
        let path = temp("skip.txt", b"\xff\na\n\xfe\xfe\nb\n\xff");
        let mut source = TextSource::new(vec![path.clone(), path], None, 2, true);
        let mut rows = 0;
        while let Some(b) = source.next_batch().unwrap() {
            rows += b.num_rows();
        }
        assert_eq!((rows, source.skipped()), (4, 6));
    }

    #[test]
    fn error_in_a_second_file_after_the_first_files_lines() {
        let good = temp("good.txt", b"x\ny\n");
        let missing = format!("{good}.missing");
        let mut source = TextSource::new(vec![good, missing], None, 100, false);
        assert_eq!(source.next_batch().unwrap().unwrap().num_rows(), 2);
        assert!(matches!(source.next_batch(), Err(Error::NotFound { .. })));
    }
}
