//! Type inference: each value's type, and the schema widened record by record.

use serde_json::{Map, Value};

use super::check::is_float_literal;
use super::{mismatch, Bad, JType};

pub(super) fn type_of(value: &Value) -> std::result::Result<JType, Bad> {
    Ok(match value {
        Value::Null => JType::Null,
        Value::Bool(_) => JType::Bool,
        Value::Number(n) => {
            if is_float_literal(n.as_str()) {
                JType::Float
            } else {
                JType::Int
            }
        }
        Value::String(_) => JType::Str,
        Value::Array(items) => {
            let mut item = JType::Null;
            for v in items {
                item = unify(item, type_of(v)?, "[]")?;
            }
            JType::List(Box::new(item))
        }
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            for (k, v) in map {
                fields.push((k.clone(), type_of(v)?));
            }
            JType::Struct(fields)
        }
    })
}

pub(super) fn unify(a: JType, b: JType, at: &str) -> std::result::Result<JType, Bad> {
    Ok(match (a, b) {
        (a, b) if a == b => a,
        (JType::Null, b) => b,
        (a, JType::Null) => a,
        (JType::Int, JType::Float) | (JType::Float, JType::Int) => JType::Float,
        (JType::List(x), JType::List(y)) => {
            JType::List(Box::new(unify(*x, *y, &format!("{at}[]"))?))
        }
        (JType::Struct(mut fields), JType::Struct(other)) => {
            for (key, kind) in other {
                if let Some(slot) = fields.iter_mut().find(|(k, _)| *k == key) {
                    let old = std::mem::replace(&mut slot.1, JType::Null);
                    slot.1 = unify(old, kind, &format!("{at}.{key}"))?;
                } else {
                    fields.push((key, kind));
                }
            }
            JType::Struct(fields)
        }
        (a, b) => {
            return Err(mismatch(format!(
                "column {at:?}: {} does not mix with {}",
                b.arrow(),
                a.arrow()
            )))
        }
    })
}

/// The type of each of a row's values, in the row's order.
pub(super) type RowKinds = Vec<(String, std::result::Result<JType, Bad>)>;

pub(super) fn row_kinds(row: &Map<String, Value>) -> RowKinds {
    row.iter()
        .map(|(key, value)| (key.clone(), type_of(value)))
        .collect()
}

/// `schema` widened by a row's kinds (the first value that does not fit is the error).
pub(super) fn unify_row(
    schema: &[(String, JType)],
    row: RowKinds,
) -> std::result::Result<Vec<(String, JType)>, Bad> {
    let mut merged = schema.to_vec();
    for (key, kind) in row {
        let kind = kind.map_err(|b| mismatch(format!("column {key:?}: {}", b.message)))?;
        if let Some(slot) = merged.iter_mut().find(|(k, _)| *k == key) {
            let old = std::mem::replace(&mut slot.1, JType::Null);
            slot.1 = unify(old, kind, &key)?;
        } else {
            merged.push((key, kind));
        }
    }
    Ok(merged)
}
