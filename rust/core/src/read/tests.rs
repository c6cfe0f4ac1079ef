use std::io::Write;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;

use super::*;

fn temp(name: &str, data: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("fa-read-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(data)
        .unwrap();
    path.display().to_string()
}

fn options(format: Format, batch_size: usize) -> ReadOptions {
    ReadOptions {
        format,
        compression: None,
        batch_size,
        columns: None,
        skip_bad: false,
        num_threads: 0,
        row_groups: None,
    }
}

fn all(reader: &mut Reader) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    while let Some(b) = reader.next_batch()? {
        out.push(b);
    }
    Ok(out)
}

#[test]
fn jsonl_rebatches_and_infers() {
    let mut data = String::new();
    for i in 0..10 {
        data.push_str(&format!("{{\"a\": {i}, \"b\": [1, 2.5]}}\n"));
    }
    let path = temp("a.jsonl", data.as_bytes());
    let mut r = Reader::new(vec![path.clone(), path], options(Format::Jsonl, 3)).unwrap();
    let batches = all(&mut r).unwrap();
    let sizes: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
    assert_eq!(sizes, vec![3, 3, 3, 3, 3, 3, 2]);
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(2), 2);
    assert_eq!(
        batches[0].schema().field(1).data_type().to_string(),
        "List(Float64)"
    );
}

#[test]
fn jsonl_bad_line_has_line_number() {
    let path = temp("bad.jsonl", b"{\"a\": 1}\n\n{\"a\": \"x}\n");
    let mut r = Reader::new(vec![path], options(Format::Jsonl, 10)).unwrap();
    assert_eq!(r.next_batch().unwrap().unwrap().num_rows(), 1); // the good line first
    match r.next_batch() {
        Err(Error::DataFormat { position, .. }) => {
            assert_eq!(position, Some(crate::error::Position::Line(3)))
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(r.next_batch().unwrap().is_none());
}

#[test]
fn jsonl_numbers() {
    let path = temp("n.jsonl", b"{\"a\": 1e400}\n");
    let mut r = Reader::new(vec![path], options(Format::Jsonl, 10)).unwrap();
    assert!(matches!(r.next_batch(), Err(Error::DataFormat { .. })));
    let path = temp("n2.jsonl", b"{\"a\": 9223372036854775808}\n");
    let mut r = Reader::new(vec![path], options(Format::Jsonl, 10)).unwrap();
    assert!(matches!(r.next_batch(), Err(Error::DataFormat { .. })));
}

#[test]
fn csv_ragged_row() {
    let path = temp("r.csv", b"a,b\n1,2\n3\n");
    let mut r = Reader::new(vec![path], options(Format::Csv, 10)).unwrap();
    // The good row first (a partial batch), then the error.
    assert_eq!(r.next_batch().unwrap().unwrap().num_rows(), 1);
    match r.next_batch() {
        Err(Error::DataFormat { position, .. }) => {
            assert_eq!(position, Some(crate::error::Position::Line(3)))
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn missing_and_directory() {
    let mut r = Reader::new(
        vec!["/nonexistent/x.jsonl".into()],
        options(Format::Jsonl, 10),
    )
    .unwrap();
    assert!(matches!(r.next_batch(), Err(Error::NotFound { .. })));
    let dir = std::env::temp_dir().display().to_string();
    let mut r = Reader::new(vec![dir], options(Format::Text, 10)).unwrap();
    assert!(matches!(r.next_batch(), Err(Error::Io { .. })));
}

#[test]
fn text_lines() {
    let path = temp("t.txt", b"\xef\xbb\xbfa\r\n\nb");
    let mut r = Reader::new(vec![path], options(Format::Text, 10)).unwrap();
    let b = all(&mut r).unwrap();
    let col = b[0].column(0).as_string::<i32>();
    assert_eq!((col.value(0), col.value(1), col.value(2)), ("a", "", "b"));
}

/// A Parquet file of `groups` row groups of `per_group` rows (`id` int64, `s` string).
fn parquet_file(name: &str, groups: usize, per_group: usize) -> String {
    use ::parquet::arrow::ArrowWriter;
    use ::parquet::file::properties::WriterProperties;
    use arrow_array::{Int64Array, StringArray};
    let n = groups * per_group;
    let ids: Vec<i64> = (0..n as i64).collect();
    let strings: Vec<String> = (0..n).map(|i| format!("row {i}")).collect();
    let batch = RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int64Array::from(ids)) as arrow_array::ArrayRef,
        ),
        (
            "s",
            Arc::new(StringArray::from(strings)) as arrow_array::ArrayRef,
        ),
    ])
    .unwrap();
    let path = temp(name, b"");
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(per_group))
        .build();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    path
}

#[test]
fn parquet_row_groups_ahead_match_streaming() {
    let path = parquet_file("groups.parquet", 7, 300);
    for batch_size in [1, 128, 300, 1000, 5000] {
        let mut outputs = Vec::new();
        for threads in [1, 2, 4] {
            let mut o = options(Format::Parquet, batch_size);
            o.num_threads = threads;
            let batches = all(&mut Reader::new(vec![path.clone()], o).unwrap()).unwrap();
            let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
            assert!(sizes[..sizes.len() - 1].iter().all(|&s| s == batch_size));
            let ids: Vec<i64> = batches
                .iter()
                .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
                .collect();
            assert_eq!(ids, (0..2100).collect::<Vec<i64>>());
            outputs.push(batches);
        }
        assert_eq!(outputs[0], outputs[1]);
        assert_eq!(outputs[0], outputs[2]);
    }
    let mut o = options(Format::Parquet, 100);
    o.num_threads = 2;
    o.columns = Some(vec!["s".into()]);
    let batches = all(&mut Reader::new(vec![path], o).unwrap()).unwrap();
    assert_eq!(batches[0].schema().field(0).name(), "s");
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        2100
    );
}

#[test]
fn jsonl_chunks_ahead_match_one_thread() {
    let mut data = String::new();
    for i in 0..20_000 {
        data.push_str(&format!(
            "{{\"a\": {i}, \"b\": [{i}, 1], \"c\": \"x{i}\"}}\n"
        ));
    }
    data.push_str("{\"a\": \"bad\"}\n");
    let path = temp("many.jsonl", data.as_bytes());
    let mut runs = Vec::new();
    for threads in [1, 3] {
        let mut o = options(Format::Jsonl, 1500);
        o.num_threads = threads;
        let mut reader = Reader::new(vec![path.clone()], o).unwrap();
        let mut batches = Vec::new();
        let error = loop {
            match reader.next_batch() {
                Ok(Some(b)) => batches.push(b),
                Ok(None) => panic!("the bad line must raise"),
                Err(e) => break e.to_string(),
            }
        };
        assert!(error.contains("line 20001"), "{error}");
        // Every good row before the error: 13 x 1500 and a partial batch of 500.
        assert_eq!(batches.len(), 14);
        assert_eq!(batches[13].num_rows(), 500);
        runs.push(batches);
    }
    assert_eq!(runs[0], runs[1]);
}

#[test]
fn csv_chunks_ahead_match_one_thread() {
    let mut data = String::from("id,text\n");
    for i in 0..10_000 {
        data.push_str(&format!("{i},\"t {i}\"\n"));
    }
    let path = temp("many.csv", data.as_bytes());
    let mut runs = Vec::new();
    for threads in [1, 2] {
        let mut o = options(Format::Csv, 999);
        o.num_threads = threads;
        runs.push(all(&mut Reader::new(vec![path.clone()], o).unwrap()).unwrap());
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0].len(), 11);
}

#[test]
fn nul_in_a_column_name_is_a_format_error_unless_projected_away() {
    let path = temp(
        "nul.jsonl",
        b"{\"ok\": 1, \"a\\u0000b\": 2, \"s\": {\"x\\u0000\": 3}}\n",
    );
    for columns in [None, Some(vec!["s".to_string()])] {
        let mut opts = options(Format::Jsonl, 10);
        opts.columns = columns;
        let mut r = Reader::new(vec![path.clone()], opts).unwrap();
        match r.schema() {
            Err(Error::DataFormat { message, .. }) => assert!(message.contains("NUL")),
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut opts = options(Format::Jsonl, 10);
    opts.columns = Some(vec!["ok".to_string()]);
    let mut r = Reader::new(vec![path], opts).unwrap();
    assert_eq!(all(&mut r).unwrap()[0].num_rows(), 1);
}

/// Inputs found by `nox -s fuzz` that made a decoder panic: each is a DataFormat error now.
#[test]
fn fuzz_findings_are_format_errors() {
    let cases: [(&str, &[u8], Format); 2] = [
        (
            "negative-column-offset.parquet",
            include_bytes!("testdata/negative-column-offset.parquet"),
            Format::Parquet,
        ),
        (
            "dictionary-buffer-out-of-range.arrows",
            include_bytes!("testdata/dictionary-buffer-out-of-range.arrows"),
            Format::Arrow,
        ),
    ];
    for (name, data, format) in cases {
        let path = temp(name, data);
        let mut r = Reader::new(vec![path], options(format, 7)).unwrap();
        match all(&mut r) {
            Err(Error::DataFormat { .. }) => {}
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
}

/// `rust/fuzz/regressions/read_ipc/lz4-huge-declared-length` (without the harness's knob
/// byte): an IPC file whose LZ4-compressed buffer declares an uncompressed size of ~7e16
/// bytes. arrow-ipc allocates the declared size before decompressing, and that failed
/// allocation aborted the process; the buffer is refused before decoding now.
#[test]
fn absurd_declared_ipc_buffer_size_is_a_format_error() {
    let data = include_bytes!("testdata/lz4-huge-declared-length.arrow");
    for columns in [None, Some(vec!["s".to_string()])] {
        let path = temp("lz4-huge-declared-length.arrow", data);
        let mut o = options(Format::Arrow, 7);
        o.columns = columns;
        let mut r = Reader::new(vec![path.clone()], o).unwrap();
        match all(&mut r) {
            Err(Error::DataFormat {
                path: p, message, ..
            }) => {
                assert_eq!(p, path);
                assert!(message.contains("declares"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Quoted fields with line breaks, `""` and CRLF endings, larger than the 64 KiB read
/// buffer, so that fields and records straddle buffer (and chunk) boundaries.
#[test]
fn csv_fields_across_read_buffers() {
    let mut data = String::from("\u{feff}id,text,n\r\n");
    let mut want = Vec::new();
    let mut line = 2u64;
    for i in 0..3000 {
        let text = format!("{}\"q\"\n{}", "x".repeat(i * 7 % 200), "é".repeat(i % 50));
        data.push_str(&format!(
            "{i},\"{}\",{}\r\n",
            text.replace('"', "\"\""),
            i * 2
        ));
        if i % 3 == 0 {
            data.push_str("\r\n"); // a blank line
            line += 1;
        }
        line += 2;
        want.push(text);
    }
    data.push_str("3000,\"unterminated\n");
    let path = temp("straddle.csv", data.as_bytes());
    for threads in [1, 2] {
        let mut o = options(Format::Csv, 700);
        o.num_threads = threads;
        let mut r = Reader::new(vec![path.clone()], o).unwrap();
        let mut texts = Vec::new();
        let error = loop {
            match r.next_batch() {
                Ok(Some(b)) => {
                    let t = b.column(1).as_string::<i32>();
                    texts.extend(t.iter().map(|s| s.unwrap().to_string()));
                    let n = b.column(2).as_primitive::<Int64Type>();
                    let ids = b.column(0).as_primitive::<Int64Type>();
                    for k in 0..b.num_rows() {
                        assert_eq!(n.value(k), ids.value(k) * 2);
                    }
                }
                Ok(None) => panic!("no error"),
                Err(e) => break e.to_string(),
            }
        };
        // Every good row before the error (the last 200 in a partial batch).
        assert_eq!(texts.len(), 3000);
        assert_eq!(texts[..], want[..]);
        assert!(error.contains("unterminated"), "{error}");
        assert!(error.contains(&format!("line {line}")), "{error} {line}");
    }
}

#[test]
fn good_rows_before_an_error_come_out_first_in_exact_batches() {
    let mut data = String::new();
    for i in 0..1500 {
        data.push_str(&format!("{{\"a\":{i}}}\n"));
    }
    data.push_str("{bad\n");
    let path = temp("good-then-bad.jsonl", data.as_bytes());
    let mut reader = Reader::new(vec![path], options(Format::Jsonl, 1000)).unwrap();
    assert_eq!(reader.next_batch().unwrap().unwrap().num_rows(), 1000);
    assert_eq!(reader.next_batch().unwrap().unwrap().num_rows(), 500);
    let err = reader.next_batch().unwrap_err();
    assert!(matches!(err, Error::DataFormat { .. }), "{err}");
    assert!(reader.next_batch().unwrap().is_none());
}

#[test]
fn a_range_of_parquet_row_groups_is_read_with_positions_of_the_whole_file() {
    let path = parquet_file("row-groups.parquet", 10, 100);
    for threads in [1, 2] {
        let mut o = options(Format::Parquet, 64);
        o.num_threads = threads;
        o.row_groups = Some((3, 6));
        let mut reader = Reader::new(vec![path.clone()], o).unwrap();
        let mut ids = Vec::new();
        while let Some(batch) = reader.next_batch().unwrap() {
            ids.extend(
                batch
                    .column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .copied(),
            );
        }
        assert_eq!(ids, (300..600).collect::<Vec<i64>>());
    }
    let mut o = options(Format::Parquet, 64);
    o.row_groups = Some((4, 4));
    let mut reader = Reader::new(vec![path.clone()], o).unwrap();
    assert!(reader.next_batch().unwrap().is_none());
    let mut o = options(Format::Parquet, 64);
    o.row_groups = Some((9, 11));
    let mut reader = Reader::new(vec![path.clone()], o).unwrap();
    assert!(matches!(
        reader.next_batch(),
        Err(Error::InvalidArgument(_))
    ));
    // One Parquet file only.
    let mut o = options(Format::Parquet, 64);
    o.row_groups = Some((0, 1));
    assert!(Reader::new(vec![path.clone(), path.clone()], o).is_err());
    let mut o = options(Format::Jsonl, 64);
    o.row_groups = Some((0, 1));
    assert!(Reader::new(vec![path], o).is_err());
}
