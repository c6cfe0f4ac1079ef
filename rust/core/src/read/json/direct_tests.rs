//! The fast path against the slow path's rules: values stored, give-ups undone, depth,
//! unselected columns checked, numbers as str::parse reads them.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::Array;

use super::*;

fn kinds(pairs: &[(&str, JType)]) -> Vec<(String, JType)> {
    pairs
        .iter()
        .map(|(k, t)| (k.to_string(), t.clone()))
        .collect()
}

fn all(kinds: &[(String, JType)]) -> Columns {
    Columns::new(kinds, &(0..kinds.len()).collect::<Vec<_>>())
}

#[test]
fn decodes_common_records_into_their_columns() {
    let schema = kinds(&[
        ("a", JType::Int),
        ("b", JType::List(Box::new(JType::Float))),
        ("c", JType::Str),
        ("d", JType::Null),
        ("e", JType::Struct(kinds(&[("f", JType::Bool)]))),
    ]);
    let mut columns = all(&schema);
    let record = br#" {"a": 1, "b": [1.5, -0, 2e3], "c": "x\"\u00e9\ud83d\ude00", "d": null, "e": {"f": true}} "#;
    assert!(columns.push_text(record));
    assert!(columns.push_text(br#"{"c": "plain", "b": null}"#));
    assert_eq!(columns.len(), 2);
    let arrays = columns.finish();
    let a = arrays[0].as_primitive::<Int64Type>();
    assert_eq!((a.value(0), a.is_null(1)), (1, true));
    let b = arrays[1].as_list::<i32>();
    assert_eq!(b.value_offsets(), &[0, 3, 3]);
    assert!(b.is_null(1));
    let items = b.values().as_primitive::<Float64Type>();
    assert_eq!(items.values(), &[1.5, 0.0, 2000.0]);
    let c = arrays[2].as_string::<i32>();
    assert_eq!((c.value(0), c.value(1)), ("x\"\u{e9}\u{1F600}", "plain"));
    assert_eq!(arrays[3].len(), 2);
    let e = arrays[4].as_struct();
    assert!(e.is_valid(0) && e.is_null(1));
    assert!(e.column(0).as_boolean().value(0));
}

#[test]
fn gives_up_on_the_rest_and_stores_nothing_of_it() {
    let schema = kinds(&[
        ("a", JType::Int),
        ("s", JType::Str),
        ("l", JType::List(Box::new(JType::Int))),
    ]);
    for bad in [
        &b"[1]"[..],
        b"{\"a\": 01}",
        b"{\"a\": 1,}",
        b"{\"a\": 1} x",
        b"{\"a\": 1, \"a\": 2}",
        b"{\"s\": \"\\ud800\"}",
        b"{\"s\": \"\\udc00\"}",
        b"{\"s\": \"\t\"}",
        b"{\"s\": \"\xff\"}",
        b"{\"a\": 9223372036854775808}",
        b"{\"a\": 1e400}",
        b"{\"a\": 1.5}",
        b"{\"a\": NaN}",
        b"{\"a\": 1.}",
        b"{\"a\": -}",
        b"{\"a\" 1}",
        b"{\"s\": \"x}",
        b"{\"s\": 1}",
        b"{\"b\": 1}",
        b"{\"a\": 1, \"l\": [1, 2, 3.5]}",
        b"{\"l\": [1, 2], \"s\": \"ok\", \"a\": true}",
    ] {
        let mut columns = all(&schema);
        assert!(columns.push_text(b"{\"a\": 7, \"s\": \"x\", \"l\": [9]}"));
        let shown = String::from_utf8_lossy(bad).into_owned();
        assert!(!columns.push_text(bad), "{shown}");
        assert_eq!(columns.len(), 1, "{shown}");
        let arrays = columns.finish();
        assert!(arrays.iter().all(|a| a.len() == 1), "{shown}");
        let l = arrays[2].as_list::<i32>();
        assert_eq!(l.values().len(), 1, "{shown}");
        assert_eq!(arrays[1].as_string::<i32>().value_data(), b"x", "{shown}");
    }
}

#[test]
fn nesting_is_bounded_like_the_slow_path() {
    let mut item = JType::Int;
    for _ in 0..62 {
        item = JType::List(Box::new(item));
    }
    let schema = kinds(&[("a", item.clone())]);
    // The record object is level 1: 62 lists inside it reach MAX_DEPTH (63).
    let deep = format!("{{\"a\": {}1{}}}", "[".repeat(62), "]".repeat(62));
    assert!(all(&schema).push_text(deep.as_bytes()));
    assert!(Columns::new(&schema, &[]).push_text(deep.as_bytes()));
    let schema = kinds(&[("a", JType::List(Box::new(item)))]);
    let deeper = format!("{{\"a\": {}1{}}}", "[".repeat(63), "]".repeat(63));
    assert!(!all(&schema).push_text(deeper.as_bytes()));
    assert!(!Columns::new(&schema, &[]).push_text(deeper.as_bytes()));
}

#[test]
fn unselected_columns_are_checked_not_built() {
    let nested = JType::Struct(kinds(&[("x", JType::Int), ("y", JType::Str)]));
    let schema = kinds(&[
        ("a", JType::Int),
        ("b", JType::List(Box::new(JType::Float))),
        ("c", nested),
        ("t", JType::List(Box::new(JType::Int))),
    ]);
    let mut columns = Columns::new(&schema, &[0]);
    assert!(columns.push_text(br#"{"a": 1, "b": [1, 2.5, null], "c": {"y": "\n", "x": 3}}"#));
    assert!(columns.push_text(br#"{"a": 2, "t": [1, null ,-3,4 , 99999999999]}"#));
    for bad in [
        &br#"{"a": 3, "t": [1, 1.5]}"#[..],
        br#"{"a": 3, "t": [01]}"#,
        br#"{"a": 3, "t": [1,,2]}"#,
        br#"{"a": 3, "t": [1 2]}"#,
        br#"{"a": 3, "t": [1,]}"#,
        br#"{"a": 3, "t": [9223372036854775808]}"#,
        br#"{"a": 3, "t": [nul]}"#,
    ] {
        assert!(!columns.push_text(bad), "{}", String::from_utf8_lossy(bad));
    }
    for bad in [
        &br#"{"a": 2, "b": [1, "x"]}"#[..],
        br#"{"a": 2, "c": {"x": 1, "x": 2}}"#,
        br#"{"a": 2, "c": {"z": 1}}"#,
        br#"{"a": 2, "c": {"x": 1.5}}"#,
        br#"{"a": 2, "b": [1e400]}"#,
        br#"{"a": 2, "c": {"y": "\ud800"}}"#,
    ] {
        assert!(!columns.push_text(bad), "{}", String::from_utf8_lossy(bad));
    }
    let arrays = columns.finish();
    assert_eq!(arrays.len(), 1);
    assert_eq!(arrays[0].as_primitive::<Int64Type>().values(), &[1, 2]);
}

#[test]
fn digits_found_and_summed_eight_at_once_agree_with_str_parse() {
    let schema = kinds(&[("l", JType::List(Box::new(JType::Int)))]);
    let mut texts: Vec<String> = (0..20_000)
        .map(|i| (i * 7919 % 100_003).to_string())
        .collect();
    texts.extend(
        [
            "0",
            "-0",
            "-7",
            "1234567",
            "12345678",
            "-99999999",
            "123456789012",
        ]
        .map(String::from),
    );
    for width in 1..=19 {
        // 19 nines overflow an i64 (a give-up, tested elsewhere).
        texts.push("9".repeat(width.min(18)));
        texts.push(format!("-{}", "1".repeat(width)));
    }
    // Numbers near the end of the record too (fewer than eight bytes left).
    for sep in [",", ", ", " ,\t"] {
        let record = format!("{{\"l\": [{}]}}", texts.join(sep));
        let mut columns = all(&schema);
        assert!(columns.push_text(record.as_bytes()));
        let want: Vec<i64> = texts.iter().map(|t| t.parse().unwrap()).collect();
        let arrays = columns.finish();
        let list = arrays[0].as_list::<i32>();
        assert_eq!(
            list.values().as_primitive::<Int64Type>().values(),
            &want[..]
        );
    }
    for bad in ["01", "-", "1.", "1e", "-01", "1x"] {
        let record = format!("{{\"l\": [1, {bad}]}}");
        assert!(!all(&schema).push_text(record.as_bytes()), "{bad}");
    }
}

#[test]
fn integers_summed_or_parsed_agree_with_str_parse() {
    let schema = kinds(&[("a", JType::Int)]);
    let texts = [
        "0",
        "-0",
        "7",
        "-100",
        "999999999999999999",
        "-999999999999999999",
        "1000000000000000000",
        "9223372036854775807",
        "-9223372036854775808",
    ];
    let mut columns = all(&schema);
    for text in texts {
        assert!(columns.push_text(format!("{{\"a\": {text}}}").as_bytes()));
    }
    let want: Vec<i64> = texts.iter().map(|t| t.parse().unwrap()).collect();
    assert_eq!(
        columns.finish()[0].as_primitive::<Int64Type>().values(),
        &want[..]
    );
}
