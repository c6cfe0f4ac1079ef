//! The IPC stream format, read message by message from any byte stream (a pipe, a
//! decompressed input): no seeking, bodies read in bounded steps.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_buffer::{Buffer, MutableBuffer};
use arrow_ipc::convert::try_fb_to_schema;
use arrow_ipc::reader::{read_dictionary, read_record_batch};
use arrow_ipc::MessageHeader;
use arrow_schema::SchemaRef;

use super::super::ipcguard;
use super::parse;

/// `read_exact` that reports how many bytes it got when the input ends first.
pub(super) fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Bodies are read in steps growing from this size, so a declared length larger than the
/// input costs what the input holds, not the declared allocation.
const BODY_STEP: usize = 64 << 20;

/// Exactly `len` bytes into a 64-byte aligned buffer; a shorter input is an error.
pub(super) fn read_body(input: &mut impl Read, len: usize) -> std::result::Result<Buffer, String> {
    let mut buf = MutableBuffer::new(0);
    let mut step = BODY_STEP;
    while buf.len() < len {
        let have = buf.len();
        let want = (len - have).min(step);
        buf.resize(have + want, 0);
        let got = read_full(input, &mut buf.as_slice_mut()[have..]).map_err(|e| e.to_string())?;
        if got < want {
            return Err(format!(
                "unexpected end of input: a message body of {len} bytes holds only {} bytes",
                have + got
            ));
        }
        step = step.saturating_mul(2);
    }
    Ok(buf.into())
}

/// The IPC stream format read message by message: each record batch and dictionary batch is
/// checked ([`ipcguard::check_message`]) before arrow-ipc decodes it. Same semantics as
/// arrow-ipc's `StreamReader`, except that an input ending inside a message's 4-byte marker
/// is a truncated file (as for pyarrow and the reference), not a clean end.
pub(super) struct IpcStream<R> {
    input: R,
    pub(super) schema: SchemaRef,
    dictionaries: HashMap<i64, ArrayRef>,
    finished: bool,
}

/// One message: its flatbuffer metadata and its body.
type RawMessage = (Vec<u8>, Buffer);

impl<R: Read> IpcStream<R> {
    pub(super) fn open(mut input: R) -> std::result::Result<Self, String> {
        let Some((meta, _)) = Self::read_message(&mut input)? else {
            return Err("Expected schema message, found empty stream.".into());
        };
        let message = parse(&meta)?;
        if message.header_type() != MessageHeader::Schema {
            return Err(format!(
                "Expected a schema as the first message in the stream, got: {:?}",
                message.header_type()
            ));
        }
        ipcguard::check_version(message.version())?;
        let schema = message
            .header_as_schema()
            .ok_or("Failed to parse schema from message header")?;
        let schema = try_fb_to_schema(schema).map_err(|e| e.to_string())?;
        Ok(IpcStream {
            input,
            schema: Arc::new(schema),
            dictionaries: HashMap::new(),
            finished: false,
        })
    }

    /// The next message, or None at the end of the stream (end of input at a message
    /// boundary, or the end-of-stream marker).
    fn read_message(input: &mut R) -> std::result::Result<Option<RawMessage>, String> {
        let cut = "the stream ends inside a message marker";
        let mut word = [0u8; 4];
        match read_full(input, &mut word).map_err(|e| e.to_string())? {
            0 => return Ok(None),
            4 => {}
            _ => return Err(cut.into()),
        }
        // A continuation marker, then the length.
        if word == [0xFF; 4] && read_full(input, &mut word).map_err(|e| e.to_string())? < 4 {
            return Err(cut.into());
        }
        let meta_len = i32::from_le_bytes(word);
        if meta_len == 0 {
            return Ok(None);
        }
        let meta_len = usize::try_from(meta_len)
            .map_err(|_| format!("Invalid metadata length: {meta_len}"))?;
        let mut meta = Vec::new();
        let read = input
            .by_ref()
            .take(meta_len as u64)
            .read_to_end(&mut meta)
            .map_err(|e| e.to_string())?;
        if read != meta_len {
            return Err(format!(
                "Unexpected end of stream: expected {meta_len} metadata bytes, got {read}"
            ));
        }
        let body_len = parse(&meta)?.bodyLength();
        let body_len = usize::try_from(body_len)
            .map_err(|_| format!("Invalid IPC message body length: {body_len}"))?;
        let body = read_body(input, body_len)?;
        Ok(Some((meta, body)))
    }

    /// The next record batch (dictionary batches on the way are applied).
    pub(super) fn next(&mut self) -> std::result::Result<Option<RecordBatch>, String> {
        while !self.finished {
            let Some((meta, body)) = Self::read_message(&mut self.input)? else {
                self.finished = true;
                break;
            };
            let message = parse(&meta)?;
            ipcguard::check_message(&message, &body)?;
            let version = message.version();
            ipcguard::check_version(version)?;
            match message.header_type() {
                MessageHeader::Schema => {
                    return Err("Expected a record batch, but found a schema".into())
                }
                MessageHeader::RecordBatch => {
                    let batch = message
                        .header_as_record_batch()
                        .ok_or("Unable to read IPC message as record batch")?;
                    let schema = self.schema.clone();
                    let dictionaries = &self.dictionaries;
                    let batch = super::super::decoder_guard(|| {
                        read_record_batch(&body, batch, schema, dictionaries, None, &version)
                    })?
                    .map_err(|e| e.to_string())?;
                    return Ok(Some(batch));
                }
                MessageHeader::DictionaryBatch => {
                    let dictionary = message
                        .header_as_dictionary_batch()
                        .ok_or("Failed to parse dictionary batch from message header")?;
                    let schema = &self.schema;
                    let dictionaries = &mut self.dictionaries;
                    super::super::decoder_guard(|| {
                        read_dictionary(&body, dictionary, schema, dictionaries, &version)
                    })?
                    .map_err(|e| e.to_string())?;
                }
                other => {
                    return Err(format!(
                        "Unsupported message header type in IPC stream: '{other:?}'"
                    ))
                }
            }
        }
        Ok(None)
    }
}
