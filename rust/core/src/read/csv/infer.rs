//! Schema inference: a function over the good records of the prefix, parsed once (the
//! same records then start the first batch).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::chunk::Chunk;
use super::values::{parse_bool, parse_float, parse_int, CType};

/// The column types of `names` from the records of `prefix` (each of `names.len()`
/// fields): int64 if every non-empty value is one, else float64, else bool, else string; a
/// column without a non-empty value is string (docs/reading.md).
pub(super) fn infer_schema(names: &[String], prefix: &Chunk) -> (Vec<CType>, SchemaRef) {
    let n = names.len();
    let (mut ints, mut floats, mut bools, mut seen) =
        (vec![true; n], vec![true; n], vec![true; n], vec![false; n]);
    for r in 0..prefix.records.len() {
        for (i, text) in prefix.record(r).enumerate().take(n) {
            if text.is_empty() {
                continue;
            }
            seen[i] = true;
            // Once a column is known not to be of a type, its values are not parsed as one.
            ints[i] = ints[i] && parse_int(text).is_some();
            floats[i] = floats[i] && parse_float(text).is_some();
            bools[i] = bools[i] && parse_bool(text).is_some();
        }
    }
    let types: Vec<CType> = (0..n)
        .map(|i| match (seen[i], ints[i], floats[i], bools[i]) {
            (false, ..) => CType::Str,
            (true, true, ..) => CType::Int,
            (true, false, true, _) => CType::Float,
            (true, false, false, true) => CType::Bool,
            _ => CType::Str,
        })
        .collect();
    let fields: Vec<Field> = names
        .iter()
        .zip(&types)
        .map(|(name, t)| {
            let data_type = match t {
                CType::Int => DataType::Int64,
                CType::Float => DataType::Float64,
                CType::Bool => DataType::Boolean,
                CType::Str => DataType::Utf8,
            };
            Field::new(name, data_type, true)
        })
        .collect();
    (types, Arc::new(Schema::new(fields)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_from_the_prefix() {
        let mut chunk = Chunk::new(5);
        let path: Arc<str> = Arc::from("t.csv");
        chunk.paths.push(path.clone());
        let mut scan = super::super::split::Scan::new(path, b',');
        let rows = b"1,1.5,true,x,\n-2,3,False,1,\n,,,,\n";
        scan.scan(rows, &mut chunk, usize::MAX, usize::MAX).unwrap();
        let names: Vec<String> = ["i", "f", "b", "s", "e"].map(String::from).into();
        let (types, schema) = infer_schema(&names, &chunk);
        assert_eq!(
            types,
            [
                CType::Int,
                CType::Float,
                CType::Bool,
                CType::Str,
                CType::Str
            ]
        );
        assert_eq!(schema.field(1).data_type(), &DataType::Float64);
    }
}
