//! The Arrow types a Parquet file is delivered in: those `pyarrow.parquet.read_table` gives
//! (the parquet crate's own choices differ for date64, INT96 and map entries), and the
//! checks that refuse what pyarrow cannot read or would read wrongly.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::basic::Type as PhysicalType;

use crate::error::{Error, Result};

/// A schema as pyarrow's Parquet reader types it: `date64` (stored as INT32 dates) comes
/// back as `date32`, and (`rename_maps`) a map's entries field is named after the map's own
/// field. The decoding hint keeps the file's names (the parquet crate refuses renamed ones);
/// the entries are renamed by a cast after decoding.
fn as_pyarrow_reads(schema: &Schema, rename_maps: bool) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| pyarrow_field(f, rename_maps))
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

pub(super) fn pyarrow_field(field: &Field, rename_maps: bool) -> Field {
    let inner = |f: &Field| pyarrow_field(f, rename_maps);
    let data_type = match field.data_type() {
        DataType::Date64 => DataType::Date32,
        DataType::Map(entries, sorted) => {
            let entries = inner(entries);
            let entries = match rename_maps {
                true => entries.with_name(field.name()),
                false => entries,
            };
            DataType::Map(Arc::new(entries), *sorted)
        }
        DataType::Struct(children) => DataType::Struct(children.iter().map(|f| inner(f)).collect()),
        DataType::List(child) => DataType::List(Arc::new(inner(child))),
        DataType::LargeList(child) => DataType::LargeList(Arc::new(inner(child))),
        DataType::FixedSizeList(child, n) => DataType::FixedSizeList(Arc::new(inner(child)), *n),
        other => other.clone(),
    };
    field.clone().with_data_type(data_type)
}

/// pyarrow's Parquet reader refuses a schema more than 100 nodes deep ("Parquet schema too
/// deeply nested"; a list level takes two nodes, so about 49 list levels): refused the same.
pub(super) const MAX_SCHEMA_DEPTH: usize = 100;

pub(super) fn check_schema_depth(path: &str, metadata: &ArrowReaderMetadata) -> Result<()> {
    let schema = metadata.metadata().file_metadata().schema_descr();
    match schema
        .columns()
        .iter()
        .find(|c| c.path().parts().len() > MAX_SCHEMA_DEPTH)
    {
        None => Ok(()),
        Some(c) => Err(Error::data(
            path,
            None,
            format!(
                "column '{}' is nested {} Parquet schema levels deep; at most {MAX_SCHEMA_DEPTH} \
                 are supported (as pyarrow)",
                c.path().parts()[0],
                c.path().parts().len()
            ),
        )),
    }
}

/// The plain schema's types, pyarrow's renaming and date32 applied, except for top-level
/// date64 columns stored as INT64 (arrow-rs writes them so, with no date logical type):
/// pyarrow ignores the embedded schema there and reads int64, and so do we.
pub(super) fn pyarrow_schema(metadata: &ArrowReaderMetadata, rename_maps: bool) -> Schema {
    let plain = metadata.schema();
    let seen = as_pyarrow_reads(plain, rename_maps);
    let int64 = top_level_stored_as(metadata, PhysicalType::INT64);
    let fields: Vec<Field> = seen
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match plain.field(i).data_type() {
            DataType::Date64 if int64.contains(&i) => {
                f.as_ref().clone().with_data_type(DataType::Int64)
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, seen.metadata().clone())
}

fn top_level_stored_as(metadata: &ArrowReaderMetadata, physical: PhysicalType) -> Vec<usize> {
    let schema = metadata.schema();
    metadata
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .filter(|c| c.physical_type() == physical && c.path().parts().len() == 1)
        .filter_map(|c| schema.index_of(&c.path().parts()[0]).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date64_becomes_date32_and_map_entries_take_the_field_name() {
        let entries = Field::new(
            "entries",
            DataType::Struct(
                vec![
                    Field::new("key", DataType::Utf8, false),
                    Field::new("value", DataType::Int64, true),
                ]
                .into(),
            ),
            false,
        );
        let schema = Schema::new(vec![
            Field::new("d", DataType::Date64, true),
            Field::new("m", DataType::Map(Arc::new(entries), false), true),
        ]);
        let seen = as_pyarrow_reads(&schema, true);
        assert_eq!(seen.field(0).data_type(), &DataType::Date32);
        let DataType::Map(entries, _) = seen.field(1).data_type() else {
            panic!("a map stays a map")
        };
        assert_eq!(entries.name(), "m");
        let hint = as_pyarrow_reads(&schema, false);
        let DataType::Map(entries, _) = hint.field(1).data_type() else {
            panic!("a map stays a map")
        };
        assert_eq!(entries.name(), "entries");
    }
}
