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
