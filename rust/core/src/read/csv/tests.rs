use arrow_schema::DataType;

use super::*;

fn temp(name: &str, data: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("fa-csv-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path.display().to_string()
}

fn open(paths: Vec<String>, batch_size: usize, skip_bad: bool) -> Result<CsvSource> {
    CsvSource::open(paths, b',', None, batch_size, skip_bad, 1)
}

/// Rows until the end or the first error, and that error.
fn drain(source: &mut CsvSource) -> (usize, Option<Error>) {
    let mut rows = 0;
    loop {
        match source.next_batch() {
            Ok(Some(b)) => rows += b.num_rows(),
            Ok(None) => return (rows, None),
            Err(e) => return (rows, Some(e)),
        }
    }
}

#[test]
fn good_rows_before_an_error_inside_the_inference_prefix() {
    // Line 6 is ragged: the schema comes from lines 2-5, those rows come out, then the error.
    let path = temp("ragged.csv", b"a,b\n1,x\n2,y\n3,z\n4,w\n5\n6,v\n");
    let mut source = open(vec![path.clone()], 1000, false).unwrap();
    assert_eq!(source.schema().field(0).data_type(), &DataType::Int64);
    let (rows, error) = drain(&mut source);
    assert_eq!(rows, 4);
    match error {
        Some(Error::DataFormat {
            path: p, position, ..
        }) => {
            assert_eq!(p, path);
            assert_eq!(position, Some(Position::Line(6)));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(source.next_batch().unwrap().is_none());
}

#[test]
fn good_rows_before_a_grammar_error_inside_the_prefix() {
    let path = temp("quote.csv", b"a\n1\n2\n\"3\n");
    let mut source = open(vec![path], 1000, false).unwrap();
    let (rows, error) = drain(&mut source);
    assert_eq!(rows, 2);
    assert!(matches!(error, Some(Error::DataFormat { .. })), "{error:?}");
}

#[test]
fn good_rows_before_an_error_after_the_prefix() {
    let mut data = String::from("a,b\n");
    for i in 0..1500 {
        data.push_str(&format!("{i},s{i}\n"));
    }
    data.push_str("1,2,3\n7,t\n");
    let path = temp("late.csv", data.as_bytes());
    let mut source = open(vec![path], 1000, false).unwrap();
    let (rows, error) = drain(&mut source);
    assert_eq!(rows, 1500);
    assert!(matches!(
        error,
        Some(Error::DataFormat {
            position: Some(Position::Line(1502)),
            ..
        })
    ));
}

#[test]
fn open_fails_only_without_a_good_row_first() {
    let path = temp("first.csv", b"a,b\n1\n2,3\n");
    assert!(matches!(
        open(vec![path], 10, false),
        Err(Error::DataFormat { .. })
    ));
}

#[test]
fn skip_counts_each_dropped_row_once_prefix_included() {
    let mut data = String::from("a,b\n1,x\n2\n");
    for i in 0..1200 {
        data.push_str(&format!("{i},s\n"));
        if i % 400 == 0 {
            data.push_str("1,2,3\n");
        }
    }
    let path = temp("skip.csv", data.as_bytes());
    for batch_size in [1, 7, 1000, 5000] {
        let mut source = open(vec![path.clone()], batch_size, true).unwrap();
        let (rows, error) = drain(&mut source);
        assert!(error.is_none());
        assert_eq!((rows, source.skipped()), (1201, 4), "batch {batch_size}");
    }
}

#[test]
fn second_file_header_mismatch_after_the_first_files_rows() {
    let a = temp("h1.csv", b"a,b\n1,2\n3,4\n");
    let b = temp("h2.csv", b"a,c\n5,6\n");
    let mut source = open(vec![a, b.clone()], 1000, false).unwrap();
    let (rows, error) = drain(&mut source);
    assert_eq!(rows, 2);
    match error {
        Some(Error::SchemaMismatch { path, .. }) => assert_eq!(path, b),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn projection_builds_only_the_selected_columns_and_checks_every_row() {
    let mut data = String::from("a,b,c\n");
    for i in 0..3000 {
        data.push_str(&format!("{i},s{i},{}\n", i % 2 == 0));
    }
    let good = temp("proj.csv", data.as_bytes());
    let mut source = open(vec![good.clone()], 1000, false).unwrap();
    assert!(source.push_projection(&[1]).unwrap());
    let batch = source.next_batch().unwrap().unwrap();
    assert_eq!(batch.num_columns(), 1);
    assert_eq!(batch.schema().field(0).name(), "b");
    let (rows, error) = drain(&mut source);
    assert_eq!((rows + batch.num_rows(), error.is_none()), (3000, true));
    // A bad value in an unselected column (after the prefix) is the same error either way.
    data.push_str("x,s,true\n");
    let bad = temp("proj-bad.csv", data.as_bytes());
    let mut errors = Vec::new();
    for projection in [None, Some(vec![1]), Some(vec![2])] {
        let mut source = open(vec![bad.clone()], 1000, false).unwrap();
        if let Some(p) = &projection {
            assert!(source.push_projection(p).unwrap());
        }
        let (rows, error) = drain(&mut source);
        assert_eq!(rows, 3000);
        errors.push(error.expect("an error").to_string());
    }
    assert!(errors.iter().all(|e| *e == errors[0]), "{errors:?}");
    assert!(errors[0].contains("line 3002"), "{}", errors[0]);
}

#[test]
fn reader_columns_in_any_order_through_the_pushed_projection() {
    use super::super::{Format, ReadOptions, Reader};
    let path = temp("order.csv", b"a,b,c\n1,x,true\n2,y,false\n");
    let options = ReadOptions {
        format: Format::Csv,
        compression: None,
        batch_size: 10,
        columns: Some(vec!["c".into(), "a".into()]),
        skip_bad: false,
        num_threads: 1,
        row_groups: None,
    };
    let mut reader = Reader::new(vec![path], options).unwrap();
    let batch = reader.next_batch().unwrap().unwrap();
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["c", "a"]);
    assert_eq!(batch.column(0).data_type(), &DataType::Boolean);
    assert_eq!(batch.column(1).data_type(), &DataType::Int64);
}

#[test]
fn number_grammar() {
    for ok in ["0", "-0", "12", "-9223372036854775808"] {
        assert!(parse_int(ok.as_bytes()).is_some(), "{ok}");
    }
    for no in ["", "-", "01", "+1", "1.0", "9223372036854775808", " 1"] {
        assert!(parse_int(no.as_bytes()).is_none(), "{no}");
    }
    for ok in ["0", "1.5", "-0.0", "1e5", "1E+5", "2.5e-3"] {
        assert!(parse_float(ok.as_bytes()).is_some(), "{ok}");
    }
    for no in ["", ".5", "1.", "01.5", "nan", "inf", "1e", "1e400", "+1"] {
        assert!(parse_float(no.as_bytes()).is_none(), "{no}");
    }
}

/// The same outcomes with the pool decoding blocks ahead (many blocks: batches of 7 rows
/// make blocks of 1024 records): every good row before the error, each skip counted once.
#[test]
fn on_the_pool_good_rows_first_and_skips_counted_once() {
    let mut data = String::from("a,b\n");
    for i in 0..20_000 {
        data.push_str(&format!("{i},\"s{i}\"\n"));
        if i % 3000 == 2999 {
            data.push_str("1,2,3\n");
        }
    }
    let path = temp("pool.csv", data.as_bytes());
    for batch_size in [7, 1000, 4096] {
        let mut source =
            CsvSource::open(vec![path.clone()], b',', None, batch_size, true, 2).unwrap();
        let (rows, error) = drain(&mut source);
        assert!(error.is_none());
        assert_eq!((rows, source.skipped()), (20_000, 6), "batch {batch_size}");
        let mut source =
            CsvSource::open(vec![path.clone()], b',', None, batch_size, false, 2).unwrap();
        let (rows, error) = drain(&mut source);
        assert_eq!(rows, 3000, "batch {batch_size}");
        assert!(matches!(
            error,
            Some(Error::DataFormat {
                position: Some(Position::Line(3002)),
                ..
            })
        ));
    }
}

/// Invalid UTF-8 in a column outside `columns=` is the same error as without a projection.
#[test]
fn projection_still_checks_utf8_of_unselected_columns() {
    let path = temp("utf8.csv", b"a,b\n1,x\n2,\xff\n3,y\n");
    let mut errors = Vec::new();
    for projection in [None, Some(vec![0])] {
        let mut source = open(vec![path.clone()], 10, false).unwrap();
        if let Some(p) = &projection {
            assert!(source.push_projection(p).unwrap());
        }
        let (rows, error) = drain(&mut source);
        assert_eq!(rows, 1);
        errors.push(error.expect("an error").to_string());
    }
    assert_eq!(errors[0], errors[1]);
    assert!(errors[0].contains("line 3"), "{}", errors[0]);
}

/// The one-pass integer and the fast float paths give what the standard parsers give.
#[test]
fn fast_number_paths_equal_the_standard_parsers() {
    let ints = [
        "0",
        "-0",
        "7",
        "-7",
        "42",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999",
        "1a",
        "--1",
    ];
    for text in ints {
        let std = text.parse::<i64>().ok();
        assert_eq!(parse_int(text.as_bytes()), std, "{text}");
    }
    let mut floats: Vec<String> = [
        "0",
        "-0",
        "0.0",
        "-0.0",
        "0.893317",
        "1.000",
        "123456789012345",
        "1234567890123456",
        "0.1",
        "0.3",
        "-2.5",
        "9007199254740993",
        "0.000000000000001",
        "1.7976931348623157e308",
    ]
    .map(String::from)
    .into();
    let mut seed: u64 = 12345;
    for _ in 0..20_000 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let int = (seed >> 40) % 100_000;
        let frac = (seed >> 8) % 10_000_000_000;
        let width = (seed % 11) as usize;
        floats.push(format!("{int}.{frac:0width$}"));
    }
    for text in &floats {
        let std = text.parse::<f64>().ok();
        let ours = parse_float(text.as_bytes());
        assert_eq!(ours.map(f64::to_bits), std.map(f64::to_bits), "{text}");
        assert!(is_float(text.as_bytes()), "{text}");
    }
    assert!(!is_float(b"1e400"));
    assert!(is_float(&[b'9'; 300]));
    assert!(!is_float(&[b'9'; 320]));
}

/// A block decoded column by column (known valid UTF-8; typed values parsed by the
/// scanner, or after it from the fields' positions) and record by record: the same
/// rows, skips, first error and values, for every projection.
#[test]
fn column_wise_decoding_equals_record_wise() {
    use arrow_array::Array;
    let names: Vec<String> = ["i", "f", "b", "s", "t"].map(String::from).into();
    let mut prefix = Chunk::new(5);
    prefix.paths.push(Arc::from("t.csv"));
    let mut scan = split::Scan::new(Arc::from("t.csv"), b',');
    scan.scan(b"1,1.5,true,x,\"q\"\n", &mut prefix, usize::MAX, usize::MAX)
        .unwrap();
    let (types, schema) = infer::infer_schema(&names, &prefix);
    let lines = [
        "1,2.5,true,a,\"b,c\"",
        "2,,False,,\"\"",
        ",3e2,,\"x\"\"y\",z",
        "x,1.0,true,a,b",
        "3,1e400,true,a,b",
        "4,1.0,maybe,a,b",
        "5,1.0",
        "6,1.0,true,a,b,extra",
        "y,zz,true,a",
        "7,-0.0,true,\"multi\nline\",b",
    ];
    let mut seed: u64 = 7;
    for _ in 0..200 {
        let mut data = String::new();
        for _ in 0..(seed >> 60) + 1 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pick = (seed >> 33) as usize % (lines.len() * 3);
            // Mostly good lines, so that errors come after some rows.
            data.push_str(lines[if pick < lines.len() { pick } else { pick % 3 }]);
            data.push('\n');
        }
        for skip_bad in [false, true] {
            for keep in [None, Some(vec![0]), Some(vec![3]), Some(vec![1, 4])] {
                let decoder =
                    Decoder::new(5, types.clone(), schema.clone(), skip_bad, keep.as_deref());
                let block = decode::Block {
                    bytes: data.clone().into_bytes(),
                    scan: split::Scan::new(Arc::from("t.csv"), b','),
                    last: true,
                    error: None,
                    records: 0,
                };
                let in_scan = decoder.decode_block(block);
                let mut parts: Vec<Part> = [true, false]
                    .map(|by_column| {
                        let mut chunk = decoder.chunk(0);
                        chunk.paths.push(Arc::from("t.csv"));
                        let mut scan = split::Scan::new(Arc::from("t.csv"), b',');
                        scan.scan(data.as_bytes(), &mut chunk, usize::MAX, usize::MAX)
                            .unwrap();
                        chunk.source = Arc::new(data.clone().into_bytes());
                        chunk.source_utf8 = by_column;
                        decoder.decode_chunk(chunk)
                    })
                    .into();
                parts.push(in_scan);
                let context = format!("{data:?} skip {skip_bad} keep {keep:?}");
                for (a, b) in [(&parts[0], &parts[1]), (&parts[2], &parts[1])] {
                    assert_eq!((a.rows, a.skipped), (b.rows, b.skipped), "{context}");
                    let errors = [&a.error, &b.error].map(|e| e.as_ref().map(|e| e.to_string()));
                    assert_eq!(errors[0], errors[1], "{context}");
                    assert_eq!(a.columns.len(), b.columns.len(), "{context}");
                    for (x, y) in a.columns.iter().zip(&b.columns) {
                        match (x, y) {
                            (PartColumn::Array(x), PartColumn::Array(y)) => {
                                assert_eq!(x.to_data(), y.to_data(), "{context}")
                            }
                            (PartColumn::Str(x), PartColumn::Str(y)) => {
                                let fields = |s: &Strings| -> Vec<Vec<u8>> {
                                    (0..s.column.len())
                                        .map(|i| s.column.field(i, &s.source).to_vec())
                                        .collect()
                                };
                                assert_eq!(fields(x), fields(y), "{context}");
                            }
                            _ => panic!("different kinds of column: {context}"),
                        }
                    }
                }
            }
        }
    }
}

/// A block buffer is kept for reuse only once nothing else holds it, at most a few, and
/// handed out only if large enough.
#[test]
fn block_buffers_are_reused_once_released() {
    let names: Vec<String> = vec!["a".into()];
    let (types, schema) = infer::infer_schema(&names, &Chunk::new(1));
    let decoder = Decoder::new(1, types, schema, false, None);
    let shared = Arc::new(Vec::with_capacity(100));
    let other = shared.clone();
    decoder.release(shared);
    assert!(decoder.take_spare(1).is_none(), "still held elsewhere");
    decoder.release(other);
    assert!(decoder.take_spare(1000).is_none(), "too small: dropped");
    for _ in 0..10 {
        decoder.release(Arc::new(Vec::with_capacity(100)));
    }
    let mut kept = 0;
    while let Some(buffer) = decoder.take_spare(100) {
        assert!(buffer.is_empty() && buffer.capacity() >= 100);
        kept += 1;
    }
    assert!((1..=4).contains(&kept), "{kept}");
}
