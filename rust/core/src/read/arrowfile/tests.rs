//! Files are written by the test itself (arrow-ipc and parquet writers), in a per-process
//! temporary directory.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_ipc::writer::{FileWriter, IpcWriteOptions, StreamWriter};
use arrow_ipc::MetadataVersion;
use arrow_schema::{DataType, Field, Schema};

use super::*;

fn temp_path(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("fa-arrowfile-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name).display().to_string()
}

fn ints(name: &str, nullable: bool, values: Vec<Option<i64>>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new(
        name,
        DataType::Int64,
        nullable,
    )]));
    let column: ArrayRef = Arc::new(Int64Array::from(values));
    RecordBatch::try_new(schema, vec![column]).unwrap()
}

fn write_ipc_file(name: &str, batches: &[RecordBatch], version: MetadataVersion) -> String {
    let path = temp_path(name);
    let options = IpcWriteOptions::try_new(8, false, version).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = FileWriter::try_new_with_options(file, &batches[0].schema(), options).unwrap();
    for b in batches {
        writer.write(b).unwrap();
    }
    writer.finish().unwrap();
    path
}

fn write_parquet(name: &str, batches: &[RecordBatch]) -> String {
    let path = temp_path(name);
    let file = std::fs::File::create(&path).unwrap();
    let mut writer =
        ::parquet::arrow::ArrowWriter::try_new(file, batches[0].schema(), None).unwrap();
    for b in batches {
        writer.write(b).unwrap();
    }
    writer.close().unwrap();
    path
}

fn read_all(files: &mut ArrowFiles) -> (Vec<RecordBatch>, Option<Error>) {
    let mut out = Vec::new();
    loop {
        match files.next_batch() {
            Ok(Some(b)) => out.push(b),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn open(paths: &[&str], format: Format) -> Result<ArrowFiles> {
    ArrowFiles::open(
        paths.iter().map(|p| p.to_string()).collect(),
        format,
        None,
        1024,
        1,
    )
}

#[test]
fn an_ipc_file_and_stream_with_v4_metadata_are_read() {
    let batch = ints("a", true, vec![Some(1), None, Some(3)]);
    let path = write_ipc_file(
        "v4.arrow",
        std::slice::from_ref(&batch),
        MetadataVersion::V4,
    );
    let (got, err) = read_all(&mut open(&[&path], Format::Arrow).unwrap());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, vec![batch.clone()]);

    let stream = temp_path("v4.arrows");
    let options = IpcWriteOptions::try_new(8, false, MetadataVersion::V4).unwrap();
    let mut writer = StreamWriter::try_new_with_options(
        std::fs::File::create(&stream).unwrap(),
        &batch.schema(),
        options,
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    let (got, err) = read_all(&mut open(&[&stream], Format::Arrow).unwrap());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, vec![batch]);
}

fn nested(levels: usize) -> RecordBatch {
    let mut array: ArrayRef = Arc::new(Int64Array::from(vec![1i64, 2]));
    for _ in 0..levels {
        let field = Arc::new(Field::new("item", array.data_type().clone(), true));
        let offsets = arrow_buffer::OffsetBuffer::from_lengths([array.len()]);
        array = Arc::new(arrow_array::ListArray::new(field, offsets, array, None));
    }
    let schema = Arc::new(Schema::new(vec![Field::new(
        "x",
        array.data_type().clone(),
        true,
    )]));
    RecordBatch::try_new(schema, vec![array]).unwrap()
}

#[test]
fn sixty_two_list_levels_read_and_sixty_three_are_refused_at_open() {
    let ok = write_ipc_file("deep62.arrow", &[nested(62)], MetadataVersion::V5);
    let (got, err) = read_all(&mut open(&[&ok], Format::Arrow).unwrap());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, vec![nested(62)]);

    let deep = write_ipc_file("deep63.arrow", &[nested(63)], MetadataVersion::V5);
    match open(&[&deep], Format::Arrow) {
        Err(Error::DataFormat { path, message, .. }) => {
            assert_eq!(path, deep);
            assert!(message.contains("63 levels"), "{message}");
        }
        other => panic!("expected a DataFormat error, got {:?}", other.err()),
    }
}

#[test]
fn a_null_in_a_later_shard_of_a_non_nullable_column_names_the_shard_and_row() {
    let first = write_parquet(
        "strict.parquet",
        &[ints("a", false, vec![Some(1), Some(2)])],
    );
    let later = write_parquet(
        "loose.parquet",
        &[ints("a", true, vec![Some(3), Some(4), None, Some(6)])],
    );
    let mut files = open(&[&first, &later], Format::Parquet).unwrap();
    let (got, err) = read_all(&mut files);
    // Every row before the null (2 of the first shard, 2 of the later), never the null.
    assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 4);
    match err {
        Some(Error::SchemaMismatch { path, position, .. }) => {
            assert_eq!(path, later);
            assert_eq!(position, Some(Position::Row(2)));
        }
        other => panic!("expected a SchemaMismatch error, got {other:?}"),
    }

    // Without a null, the later shard's rows come out in the first shard's schema.
    let clean = write_parquet("loose-clean.parquet", &[ints("a", true, vec![Some(3)])]);
    let (got, err) = read_all(&mut open(&[&first, &clean], Format::Parquet).unwrap());
    assert!(err.is_none(), "{err:?}");
    assert!(got.iter().all(|b| !b.schema().field(0).is_nullable()));
}

#[test]
fn a_compressed_ipc_file_is_spooled_and_read() {
    let batch = ints("a", false, (0..100).map(Some).collect());
    let path = write_ipc_file(
        "plain.arrow",
        std::slice::from_ref(&batch),
        MetadataVersion::V5,
    );
    let gz = temp_path("plain.arrow.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::copy(&mut std::fs::File::open(&path).unwrap(), &mut enc).unwrap();
    enc.finish().unwrap();
    let mut files = ArrowFiles::open(
        vec![gz],
        Format::Arrow,
        Some(crate::read::Compression::Gzip),
        1024,
        1,
    )
    .unwrap();
    files.push_projection(&[0]).unwrap();
    let (got, err) = read_all(&mut files);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, vec![batch]);
}

#[test]
fn the_batches_before_a_damaged_one_come_out_first() {
    let batch = ints("a", false, (0..100).map(Some).collect());
    let path = temp_path("damaged.arrows");
    let mut writer =
        StreamWriter::try_new(std::fs::File::create(&path).unwrap(), &batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    let data = std::fs::read(&path).unwrap();
    std::fs::write(&path, &data[..data.len() - 40]).unwrap(); // the second body cut short
    let (got, err) = read_all(&mut open(&[&path], Format::Arrow).unwrap());
    assert_eq!(got, vec![batch]);
    match err {
        Some(Error::DataFormat {
            path: p, position, ..
        }) => {
            assert_eq!(p, path);
            assert_eq!(position, Some(Position::Row(100)));
        }
        other => panic!("expected a DataFormat error, got {other:?}"),
    }
}

#[test]
fn parquet_deeper_than_pyarrow_reads_is_refused_at_open() {
    let ok = write_parquet("deep49.parquet", &[nested(49)]);
    let (got, err) = read_all(&mut open(&[&ok], Format::Parquet).unwrap());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, vec![nested(49)]);
    let deep = write_parquet("deep50.parquet", &[nested(50)]);
    match open(&[&deep], Format::Parquet) {
        Err(Error::DataFormat { path, .. }) => assert_eq!(path, deep),
        other => panic!("expected a DataFormat error, got {:?}", other.err()),
    }
}

#[test]
fn an_arrow_rs_date64_column_stored_as_int64_reads_as_int64_as_in_pyarrow() {
    // arrow-rs writes date64 as INT64 without a date logical type; pyarrow.parquet reads
    // that column as int64 (checked by hand with pyarrow 2x on this very file).
    let schema = Arc::new(Schema::new(vec![Field::new("d", DataType::Date64, true)]));
    let column: ArrayRef = Arc::new(arrow_array::Date64Array::from(vec![Some(86_400_000), None]));
    let batch = RecordBatch::try_new(schema, vec![column]).unwrap();
    let path = write_parquet("date64-int64.parquet", std::slice::from_ref(&batch));
    let (got, err) = read_all(&mut open(&[&path], Format::Parquet).unwrap());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, vec![ints("d", true, vec![Some(86_400_000), None])]);
}
