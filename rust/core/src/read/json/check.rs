//! Record validation: syntax by serde_json, then our rules (numbers in range, depth) over
//! the record's text.

use serde_json::{Map, Value};

use super::{bad, syntax, too_deep, Bad, BadKind, MAX_DEPTH};
use crate::error::{Error, Position, Result};

pub(super) fn is_float_literal(text: &str) -> bool {
    text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
}

/// Numbers in range and depth bounded, over the text of a record, every value included (a duplicate key's
/// earlier values too, which the parsed `Value` no longer holds). Run only on text
/// serde_json has accepted, so the scan need not re-check the grammar: outside strings,
/// a number starts with `-` or a digit and `[`/`{` open a level.
pub(super) fn check_text(bytes: &[u8]) -> std::result::Result<(), Bad> {
    let (mut i, mut depth) = (0, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep());
                }
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                // The span is ASCII (the bytes matched above).
                check_number(std::str::from_utf8(&bytes[start..i]).unwrap_or_default())?;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

pub(super) fn check_number(text: &str) -> std::result::Result<(), Bad> {
    if is_float_literal(text) {
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(()),
            _ => Err(bad(format!("number {text} overflows float64"))),
        }
    } else if text.parse::<i64>().is_ok() {
        Ok(())
    } else {
        Err(bad(format!("integer {text} does not fit in int64")))
    }
}

/// Parse a record; in a JSON document (not JSON Lines) a syntax error is fatal, as in
/// `json.load`, whatever `on_error` says.
pub(super) fn parse_checked(
    path: &str,
    position: &Position,
    bytes: &[u8],
    in_array: bool,
) -> Result<std::result::Result<Map<String, Value>, Bad>> {
    let parsed = parse_record(bytes, in_array);
    if let Err(b) = &parsed {
        if in_array && b.breaks_document() {
            return Err(Error::data(path, Some(position.clone()), b.message.clone()));
        }
    }
    Ok(parsed)
}

pub(super) fn parse_record(
    bytes: &[u8],
    in_array: bool,
) -> std::result::Result<Map<String, Value>, Bad> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| syntax(format!("invalid JSON: {e}")))?;
    // serde_json keeps only the last of duplicate keys, so the numbers and depth of every
    // value in the text are checked on the text itself (`{"a":1e400,"a":1}` is an error,
    // as in Python's json with our parse_float).
    if let Err(mut b) = check_text(bytes) {
        if in_array && b.kind == BadKind::TooDeep {
            // Worded as the document error it is (json.load refuses the whole document).
            b.message = format!("invalid JSON: {}", b.message);
        }
        return Err(b);
    }
    match value {
        Value::Object(map) => Ok(map),
        other => Err(bad(format!(
            "expected a JSON object, found {}",
            kind_name(&other)
        ))),
    }
}

pub(super) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
