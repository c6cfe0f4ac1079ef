//! JsonSource behaviours: good rows first, skip counts, depth, duplicate keys, projection.

use std::io::Write;

use super::check::{check_text, parse_record};
use super::split::Records;
use super::*;

fn temp(name: &str, data: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("fa-json-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(data)
        .unwrap();
    path.display().to_string()
}

fn lines(good: usize, bad_at: Option<usize>) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..good {
        if bad_at == Some(i) {
            out.push_str("{\"a\": \n");
        }
        out.push_str(&format!("{{\"a\": {i}}}\n"));
    }
    if bad_at == Some(good) {
        out.push_str("{\"a\": \n");
    }
    out.into_bytes()
}

/// Rows delivered before the first error, and that error.
fn drain(source: &mut JsonSource) -> (usize, Option<Error>) {
    let mut rows = 0;
    loop {
        match source.next_batch() {
            Ok(Some(b)) => rows += b.num_rows(),
            Ok(None) => return (rows, None),
            Err(e) => return (rows, Some(e)),
        }
    }
}

fn open(path: &str, skip: bool) -> Result<JsonSource> {
    JsonSource::open(vec![path.to_string()], false, None, 100, skip, 1)
}

#[test]
fn good_rows_before_an_error_inside_inference_come_first() {
    let path = temp("bad5.jsonl", &lines(5, Some(5)));
    let mut source = open(&path, false).unwrap();
    assert_eq!(source.schema().field(0).data_type(), &DataType::Int64);
    let (rows, error) = drain(&mut source);
    assert_eq!(rows, 5);
    let error = error.expect("the bad line is an error");
    assert!(matches!(
        error,
        Error::DataFormat {
            position: Some(Position::Line(6)),
            ..
        }
    ));
}

#[test]
fn good_rows_before_an_error_after_inference_come_first() {
    let path = temp("bad1500.jsonl", &lines(1500, Some(1500)));
    let (rows, error) = drain(&mut open(&path, false).unwrap());
    assert_eq!(rows, 1500);
    assert!(matches!(error, Some(Error::DataFormat { .. })));
}

#[test]
fn open_fails_only_when_the_first_record_is_bad() {
    let path = temp("bad0.jsonl", &lines(3, Some(0)));
    assert!(matches!(open(&path, false), Err(Error::DataFormat { .. })));
}

#[test]
fn skipped_records_count_once_inside_and_after_inference() {
    let mut data = Vec::new();
    for i in 0..2000 {
        if i % 100 == 7 {
            data.extend_from_slice(b"{\"a\": oops}\n");
        } else {
            data.extend_from_slice(format!("{{\"a\": {i}}}\n").as_bytes());
        }
    }
    let path = temp("skips.jsonl", &data);
    let mut source = open(&path, true).unwrap();
    let (rows, error) = drain(&mut source);
    assert!(error.is_none());
    assert_eq!(rows, 1980);
    assert_eq!(source.skipped(), 20);
}

fn nested(levels: usize) -> String {
    // The record object is level 1; each list adds one.
    format!(
        "{{\"a\": {}1{}}}",
        "[".repeat(levels - 1),
        "]".repeat(levels - 1)
    )
}

#[test]
fn nesting_is_bounded_at_63_levels() {
    assert_eq!(MAX_DEPTH, 63);
    let ok = temp("deep63.jsonl", format!("{}\n", nested(63)).as_bytes());
    let (rows, error) = drain(&mut open(&ok, false).unwrap());
    assert_eq!((rows, error.is_none()), (1, true));
    for levels in [64, 100] {
        let data = format!("{}\n{}\n", nested(2), nested(levels));
        let deep = temp(&format!("deep{levels}.jsonl"), data.as_bytes());
        let (rows, error) = drain(&mut open(&deep, false).unwrap());
        assert_eq!(rows, 1);
        match error {
            Some(Error::DataFormat {
                path,
                position: Some(Position::Line(2)),
                message,
            }) => {
                assert_eq!(path, deep);
                assert!(message.contains("nested deeper than 63"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // Skippable.
        let mut source = open(&deep, true).unwrap();
        assert_eq!(drain(&mut source).0, 1);
        assert_eq!(source.skipped(), 1);
    }
}

#[test]
fn every_value_of_a_duplicate_key_is_checked() {
    assert!(check_text(br#"{"a":1e400,"a":1}"#).is_err());
    assert!(check_text(br#"{"a":99999999999999999999,"a":1}"#).is_err());
    assert!(check_text(br#"{"s":"1e400 [[[","a":-1.5e3}"#).is_ok());
    let path = temp("dup.jsonl", b"{\"a\":1}\n{\"a\":1e400,\"a\":1}\n");
    let (rows, error) = drain(&mut open(&path, false).unwrap());
    assert_eq!(rows, 1);
    assert!(matches!(
        error,
        Some(Error::DataFormat {
            position: Some(Position::Line(2)),
            ..
        })
    ));
    // Otherwise the last value wins.
    let path = temp("dup_ok.jsonl", b"{\"a\":1,\"b\":2,\"a\":3}\n");
    let mut source = open(&path, false).unwrap();
    let batch = source.next_batch().unwrap().unwrap();
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    assert_eq!(batch.schema().field(0).name(), "a");
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(0), 3);
}

#[test]
fn skippability_is_typed() {
    let kind = |text: &[u8]| parse_record(text, false).err().map(|b| b.kind);
    assert_eq!(kind(b"{\"a\": }"), Some(BadKind::Syntax));
    assert_eq!(kind(nested(64).as_bytes()), Some(BadKind::TooDeep));
    assert_eq!(kind(b"{\"a\": 1e400}"), Some(BadKind::Value));
    assert_eq!(kind(b"[1]"), Some(BadKind::Value));
    assert_eq!(kind(b"{\"a\": 1}"), None);
    // In a JSON document, a syntax error or too deep a record is fatal even under skip.
    let path = temp("doc.json", b"[{\"a\": 1}, {\"a\": 1e400}, {\"a\": oops}]");
    let mut source = JsonSource::open(vec![path], true, None, 100, true, 1).unwrap();
    let (rows, error) = drain(&mut source);
    assert_eq!((rows, source.skipped()), (1, 1));
    assert!(matches!(error, Some(Error::DataFormat { .. })), "{error:?}");
}

#[test]
fn projection_builds_only_the_selected_columns_and_checks_all() {
    let path = temp(
        "proj.jsonl",
        b"{\"a\": 1, \"b\": \"x\", \"c\": [1]}\n{\"a\": 2, \"b\": \"y\", \"c\": [2]}\n",
    );
    let mut source = open(&path, false).unwrap();
    assert!(source.push_projection(&[0, 2]).unwrap());
    let batch = source.next_batch().unwrap().unwrap();
    let names: Vec<_> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(
        source.schema().fields().len(),
        3,
        "schema() stays the full schema"
    );
    // A bad value in an unselected column is still an error, at the same line.
    let path = temp(
        "proj_bad.jsonl",
        b"{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2, \"b\": 3}\n",
    );
    for project in [false, true] {
        let mut source = open(&path, false).unwrap();
        if project {
            assert!(source.push_projection(&[0]).unwrap());
        }
        let (rows, error) = drain(&mut source);
        assert_eq!(rows, 1);
        assert!(
            matches!(
                error,
                Some(Error::SchemaMismatch {
                    position: Some(Position::Line(2)),
                    ..
                })
            ),
            "{error:?}"
        );
    }
}

#[test]
fn inference_prefix_is_parsed_once_and_its_bytes_not_kept() {
    let path = temp("prefix.jsonl", &lines(1200, None));
    let mut source = open(&path, false).unwrap();
    let buffer = source.buffer.as_ref().unwrap();
    assert_eq!(buffer.parsed.len(), INFER_ROWS);
    assert!(buffer.data.is_empty() && buffer.records.is_empty());
    let (rows, error) = drain(&mut source);
    assert_eq!((rows, error.is_none()), (1200, true));
}

#[test]
fn number_lists_with_nulls_and_widening_build_as_before() {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::Array;
    let path = temp(
        "lists.jsonl",
        b"{\"i\": [1, null, 3], \"f\": [1, 2.5]}\n{\"i\": null, \"f\": [null, 4]}\n{\"i\": [], \"f\": []}\n",
    );
    let batch = open(&path, false).unwrap().next_batch().unwrap().unwrap();
    let i = batch.column(0).as_list::<i32>();
    assert_eq!(i.value_offsets(), &[0, 3, 3, 3]);
    assert!(i.is_null(1) && !i.is_null(2));
    let items = i.values().as_primitive::<Int64Type>();
    assert_eq!(
        (items.value(0), items.is_null(1), items.value(2)),
        (1, true, 3)
    );
    let f = batch.column(1).as_list::<i32>();
    assert_eq!(f.value_offsets(), &[0, 2, 4, 4]);
    let items = f.values().as_primitive::<Float64Type>();
    assert_eq!(
        (items.value(1), items.is_null(2), items.value(3)),
        (2.5, true, 4.0)
    );
}

/// Every record of `data` read through `Records::fill` with the given limits.
fn spans_of(data: &[u8], rows: usize, bytes: usize) -> (Vec<(Position, Vec<u8>)>, Option<Error>) {
    let limit = split::Limit {
        rows,
        bytes,
        ..split::Limit::rows(usize::MAX)
    };
    let path = temp("spans.jsonl", data);
    let mut records = Records::new(Inputs::new(vec![path], None), false);
    let mut out = Vec::new();
    loop {
        let (mut buf, mut spans) = (Vec::new(), Vec::new());
        let result = records.fill(&mut buf, &mut spans, limit);
        for (_, position, start, end) in spans {
            out.push((position, buf[start..end].to_vec()));
        }
        match result {
            Ok(true) => return (out, None),
            Ok(false) => {}
            Err(e) => return (out, Some(e)),
        }
    }
}

#[test]
fn lines_split_in_blocks_keep_numbers_blank_lines_crlf_and_bom() {
    let long = format!("{{\"a\": \"{}\"}}", "x".repeat(150_000)); // spans several read blocks
    let text =
        format!("\u{feff}{{\"a\": 1}}\r\n\n  \t\r\n{long}\n{{\"a\": 2}}\r\n\r\n{{\"a\": 3}}");
    let want = vec![
        (Position::Line(1), b"{\"a\": 1}\r".to_vec()),
        (Position::Line(4), long.clone().into_bytes()),
        (Position::Line(5), b"{\"a\": 2}\r".to_vec()),
        (Position::Line(7), b"{\"a\": 3}".to_vec()),
    ];
    for (rows, bytes) in [
        (usize::MAX, usize::MAX),
        (1, usize::MAX),
        (2, 10),
        (usize::MAX, 1),
    ] {
        let (got, error) = spans_of(text.as_bytes(), rows, bytes);
        assert!(error.is_none());
        assert_eq!(got, want, "rows {rows} bytes {bytes}");
    }
    // A BOM alone, or only blank lines: no records.
    assert!(spans_of(b"\xef\xbb\xbf", 1, 1).0.is_empty());
    assert!(spans_of(b"\n \n\r\n", 1, 1).0.is_empty());
}

#[test]
fn records_across_chunks_and_files_decode_as_one_read() {
    // Many chunks (small batches), lists, a record the fast path leaves to serde_json.
    let mut data = String::new();
    for i in 0..3000 {
        if i == 1700 {
            data.push_str("{\"ids\": [1], \"ids\": [5, 6], \"s\": \"dup\"}\n");
        } else {
            data.push_str(&format!(
                "{{\"ids\": [{i}, {}, -3], \"s\": \"r{i}\"}}\n",
                i * 2
            ));
        }
    }
    let path = temp("many.jsonl", data.as_bytes());
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    for threads in [1, 2] {
        let mut source = JsonSource::open(
            vec![path.clone(), path.clone()],
            false,
            None,
            700,
            false,
            threads,
        )
        .unwrap();
        let mut seen = 0usize;
        while let Some(batch) = source.next_batch().unwrap() {
            let ids = batch.column(0).as_list::<i32>();
            let strings = batch.column(1).as_string::<i32>();
            for r in 0..batch.num_rows() {
                let i = seen % 3000;
                let values = ids.value(r);
                let values = values.as_primitive::<Int64Type>().values().to_vec();
                if i == 1700 {
                    assert_eq!((values, strings.value(r)), (vec![5, 6], "dup"));
                } else {
                    assert_eq!(values, vec![i as i64, 2 * i as i64, -3]);
                    assert_eq!(strings.value(r), format!("r{i}"));
                }
                seen += 1;
            }
        }
        assert_eq!(seen, 6000);
    }
}

#[test]
fn chunks_end_on_batch_boundaries_so_batches_are_slices() {
    let path = temp("aligned.jsonl", &lines(20000, None));
    for batch_size in [1, 700, 1000, 4096, 8192] {
        let mut source =
            JsonSource::open(vec![path.clone()], false, None, batch_size, false, 2).unwrap();
        let mut total = 0;
        let mut ends = Vec::new();
        while let Some(batch) = source.next_batch().unwrap() {
            total += batch.num_rows();
            ends.push(total);
        }
        assert_eq!(total, 20000);
        // After the inference prefix (its own chunk), every chunk but the last ends on a
        // multiple of batch_size.
        let inner = &ends[1..ends.len() - 1];
        assert!(
            inner.iter().all(|end| end % batch_size == 0),
            "{batch_size}: {ends:?}"
        );
    }
}
