//! Arrow IPC messages checked before arrow-ipc decodes them.
//!
//! With body compression (LZ4_FRAME or ZSTD) each buffer starts with its uncompressed length
//! (8 bytes, little-endian; -1: stored uncompressed). arrow-ipc allocates that length before
//! decompressing, and an allocation that fails aborts the process (no `catch_unwind` helps).
//! [`check_message`] refuses a declared length that the codec cannot produce from the
//! buffer's compressed bytes or that exceeds the machine's physical memory. The reference
//! (`fast_axolotl/_fallback/reading.py`, `_ipc_guard_message`) applies the same rules.

use arrow_ipc::{CompressionType, Message, MessageHeader, MetadataVersion};
use arrow_schema::{DataType, Schema};

/// LZ4 (block format): a sequence costs at least 3 bytes (token and match offset) and its
/// output is its literals (each one input byte) plus a match of at most 19 bytes plus 255
/// per match-length extension byte; so no input byte yields more than 255 output bytes
/// (19 < 3 x 255), and the frame's header, block sizes and checksums only add input.
const LZ4_MAX_RATIO: u128 = 255;

/// ZSTD: a block is at least 4 bytes (a 3-byte header and, for the smallest, one RLE byte) and
/// decodes to at most 128 KiB (`ZSTD_BLOCKSIZE_MAX`): at most 32768 bytes per input byte.
/// Used where the frames cannot be walked (corrupt data, which the decoder then refuses).
const ZSTD_MAX_RATIO: u128 = 128 * 1024 / 4;
const ZSTD_BLOCK_MAX: u128 = 128 * 1024;

/// The machine's physical memory in bytes (None where it is not known).
pub fn physical_memory() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: sysconf only reads system configuration.
        let (pages, size) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if pages > 0 && size > 0 {
            return Some((pages as u64).saturating_mul(size as u64));
        }
    }
    None
}

/// Refuse a RecordBatch or DictionaryBatch message whose compressed buffers declare an
/// impossible uncompressed length (the reason is returned). `body` is the message body.
/// Buffers outside the body or shorter than their 8-byte prefix are left to the decoder,
/// which refuses them without allocating.
pub fn check_message(message: &Message<'_>, body: &[u8]) -> Result<(), String> {
    let batch = match message.header_type() {
        MessageHeader::RecordBatch => message.header_as_record_batch(),
        MessageHeader::DictionaryBatch => {
            message.header_as_dictionary_batch().and_then(|d| d.data())
        }
        _ => None,
    };
    let Some(batch) = batch else { return Ok(()) };
    let Some(compression) = batch.compression() else {
        return Ok(());
    };
    let codec = compression.codec();
    let (name, lz4) = match codec {
        CompressionType::LZ4_FRAME => ("LZ4", true),
        CompressionType::ZSTD => ("ZSTD", false),
        _ => return Ok(()), // arrow-ipc refuses other codecs
    };
    let Some(buffers) = batch.buffers() else {
        return Ok(());
    };
    let memory = physical_memory();
    let mut total: u128 = 0;
    for (index, buffer) in buffers.iter().enumerate() {
        let (Ok(offset), Ok(length)) = (
            usize::try_from(buffer.offset()),
            usize::try_from(buffer.length()),
        ) else {
            continue;
        };
        let Some(data) = offset
            .checked_add(length)
            .and_then(|end| body.get(offset..end))
        else {
            continue;
        };
        if data.len() < 8 {
            continue;
        }
        let declared = i64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
        if declared == -1 || declared == 0 {
            continue; // stored uncompressed, or empty
        }
        if declared < 0 {
            return Err(format!(
                "{name}-compressed buffer {index} declares a negative uncompressed size ({declared})"
            ));
        }
        let compressed = &data[8..];
        let bound = if lz4 {
            LZ4_MAX_RATIO * compressed.len() as u128
        } else {
            zstd_bound(compressed)
        };
        if declared as u128 > bound {
            return Err(format!(
                "{name}-compressed buffer {index} declares {declared} uncompressed bytes, more than \
                 its {} compressed bytes can hold (at most {bound})",
                compressed.len()
            ));
        }
        if let Some(memory) = memory {
            if declared as u64 > memory {
                return Err(format!(
                    "{name}-compressed buffer {index} declares {declared} uncompressed bytes, more \
                     than the machine's physical memory ({memory} bytes)"
                ));
            }
        }
        total += declared as u128;
    }
    if let Some(memory) = memory {
        if total > memory as u128 {
            return Err(format!(
                "the {name}-compressed buffers of one message declare {total} uncompressed bytes \
                 in all, more than the machine's physical memory ({memory} bytes)"
            ));
        }
    }
    Ok(())
}

/// The most bytes ZSTD data (one or more frames) can decode to: per frame its declared
/// content size when the header has one (`ZSTD_getFrameContentSize`), else the sum over its
/// blocks (raw and RLE blocks state their size, a compressed block is at most 128 KiB);
/// skippable frames give nothing. Data whose frames cannot be walked (corrupt, truncated,
/// legacy formats) gets the ratio bound. The reference walks the frames the same way.
fn zstd_bound(data: &[u8]) -> u128 {
    let fallback = ZSTD_MAX_RATIO * data.len() as u128;
    let mut at = 0;
    let mut total: u128 = 0;
    while at < data.len() {
        let Some((size, bound)) = zstd_frame(&data[at..]) else {
            return fallback;
        };
        total += bound;
        at += size;
    }
    total
}

fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |value, &b| value << 8 | u64::from(b))
}

/// The first frame of `data`: its size in bytes and the most bytes it can decode to.
fn zstd_frame(data: &[u8]) -> Option<(usize, u128)> {
    let magic = le(data.get(..4)?) as u32;
    if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
        let size = 8usize.checked_add(le(data.get(4..8)?) as usize)?;
        return (size <= data.len()).then_some((size, 0));
    }
    if magic != 0xFD2F_B528 {
        return None;
    }
    let descriptor = *data.get(4)?;
    if descriptor & 0x08 != 0 {
        return None; // reserved bit
    }
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment && (*data.get(5)? >> 3) + 10 > 31 {
        return None; // window larger than zstd accepts
    }
    let content_size_bytes = match descriptor >> 6 {
        0 => usize::from(single_segment),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let dictionary_bytes = [0, 1, 2, 4][usize::from(descriptor & 3)];
    let mut at = 5 + usize::from(!single_segment) + dictionary_bytes + content_size_bytes;
    if at > data.len() {
        return None;
    }
    let mut blocks: u128 = 0;
    loop {
        let header = le(data.get(at..at + 3)?);
        let last = header & 1 != 0;
        let size = (header >> 3) as usize;
        at += 3;
        let (input, output) = match (header >> 1) & 3 {
            0 => (size, size as u128),
            1 => (1, size as u128),
            2 => (size, ZSTD_BLOCK_MAX),
            _ => return None,
        };
        at = at.checked_add(input).filter(|&end| end <= data.len())?;
        blocks += output;
        if last {
            break;
        }
    }
    if descriptor & 0x04 != 0 {
        at = at.checked_add(4).filter(|&end| end <= data.len())?; // content checksum
    }
    let bound = match zstd::zstd_safe::get_frame_content_size(&data[..at]) {
        Ok(Some(content)) => u128::from(content),
        Ok(None) => blocks,
        Err(_) => return None,
    };
    Some((at, bound))
}

/// The deepest nesting of list/struct levels a column may have: pyarrow's C data import
/// refuses a 63rd level ("Recursion level in ArrowSchema struct exceeded"), so a deeper
/// column could be read here and never handed to Python.
pub const MAX_NESTING: usize = 62;

/// Nested levels of a type as the C data interface counts them (one per child schema).
fn depth(data_type: &DataType) -> usize {
    match data_type {
        DataType::List(child)
        | DataType::LargeList(child)
        | DataType::ListView(child)
        | DataType::LargeListView(child)
        | DataType::FixedSizeList(child, _)
        | DataType::Map(child, _) => 1 + depth(child.data_type()),
        DataType::Struct(children) => {
            1 + children
                .iter()
                .map(|f| depth(f.data_type()))
                .max()
                .unwrap_or(0)
        }
        DataType::Union(children, _) => {
            1 + children
                .iter()
                .map(|(_, f)| depth(f.data_type()))
                .max()
                .unwrap_or(0)
        }
        DataType::Dictionary(_, value) => depth(value),
        DataType::RunEndEncoded(_, value) => 1 + depth(value.data_type()),
        _ => 0,
    }
}

/// Refuse a schema with a column nested deeper than [`MAX_NESTING`] levels (the reason).
pub fn check_depth(schema: &Schema) -> Result<(), String> {
    for field in schema.fields() {
        let levels = depth(field.data_type());
        if levels > MAX_NESTING {
            return Err(format!(
                "column '{}' is nested {levels} levels deep; at most {MAX_NESTING} are supported",
                field.name()
            ));
        }
    }
    Ok(())
}

/// Refuse IPC metadata older than V4 (pre-1.0 Arrow, whose layout arrow-ipc does not read).
pub fn check_version(version: MetadataVersion) -> Result<(), String> {
    if version.0 < MetadataVersion::V4.0 {
        return Err(format!(
            "IPC metadata version V{} is not supported (V4 and V5 are)",
            version.0 + 1
        ));
    }
    Ok(())
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use arrow_schema::Field;
    use std::sync::Arc;

    fn nested_list(levels: usize) -> Schema {
        let mut t = DataType::Int64;
        for _ in 0..levels {
            t = DataType::List(Arc::new(Field::new("item", t, true)));
        }
        Schema::new(vec![Field::new("x", t, true)])
    }

    #[test]
    fn sixty_two_levels_pass_and_sixty_three_are_refused() {
        assert!(check_depth(&nested_list(62)).is_ok());
        let e = check_depth(&nested_list(63)).unwrap_err();
        assert!(e.contains("63 levels"), "{e}");
    }

    #[test]
    fn a_struct_counts_as_a_level() {
        let inner = nested_list(62).field(0).clone();
        let s = Schema::new(vec![Field::new(
            "s",
            DataType::Struct(vec![inner].into()),
            true,
        )]);
        assert!(check_depth(&s).is_err());
    }

    #[test]
    fn versions_before_v4_are_refused() {
        assert!(check_version(MetadataVersion::V4).is_ok());
        assert!(check_version(MetadataVersion::V5).is_ok());
        let e = check_version(MetadataVersion::V3).unwrap_err();
        assert!(e.contains("V3"), "{e}");
    }
}
