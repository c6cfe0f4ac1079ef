//! INT96 timestamps, at any depth: pyarrow reads them as nanoseconds (wrapping dates outside
//! 1677-2262 silently); we decode them as microseconds, refuse a value nanoseconds cannot
//! hold (naming its row), and cast the rest to nanoseconds, so the types are pyarrow's.
//!
//! A Parquet file's leaf columns are the Arrow schema's leaves in depth-first order (a list
//! has one leaf below it, a map two, a struct its fields'), so an INT96 leaf is found in the
//! Arrow types by counting leaves.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::basic::Type as PhysicalType;

use crate::error::{Error, Position};

/// For each Parquet leaf column (in schema order), whether it is stored as INT96.
pub(in crate::read) fn int96_leaves(metadata: &ArrowReaderMetadata) -> Vec<bool> {
    let columns = metadata.metadata().file_metadata().schema_descr();
    columns
        .columns()
        .iter()
        .map(|c| c.physical_type() == PhysicalType::INT96)
        .collect()
}

/// `schema` with its INT96 leaves (`leaves`, see [`int96_leaves`]) as timestamps of `unit`.
pub(in crate::read) fn with_int96_unit(schema: &Schema, leaves: &[bool], unit: TimeUnit) -> Schema {
    let mut next = 0;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| with_unit(f, leaves, unit, &mut next))
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

fn with_unit(field: &Field, leaves: &[bool], unit: TimeUnit, next: &mut usize) -> Field {
    let mut inner = |f: &Field| Arc::new(with_unit(f, leaves, unit, next));
    let data_type = match field.data_type() {
        DataType::List(child) => DataType::List(inner(child)),
        DataType::LargeList(child) => DataType::LargeList(inner(child)),
        DataType::FixedSizeList(child, n) => DataType::FixedSizeList(inner(child), *n),
        DataType::Map(entries, sorted) => DataType::Map(inner(entries), *sorted),
        DataType::Struct(children) => DataType::Struct(children.iter().map(|f| inner(f)).collect()),
        leaf => {
            let int96 = leaves.get(*next).copied().unwrap_or(false);
            *next += 1;
            match leaf {
                DataType::Timestamp(_, tz) if int96 => DataType::Timestamp(unit, tz.clone()),
                other => other.clone(),
            }
        }
    };
    field.clone().with_data_type(data_type)
}

/// The first row of `column` (decoded with INT96 leaves in microseconds) holding, at any
/// depth, a value its `target` type (those leaves in nanoseconds) cannot hold, with the
/// error naming the row. None when every value fits or the column has no such leaf.
pub(in crate::read) fn first_outside_nanoseconds(
    column: &ArrayRef,
    target: &DataType,
    path: &str,
    first_row: u64,
    name: &str,
) -> Option<(usize, Error)> {
    let at = outside(column.as_ref(), target)?
        .iter()
        .position(|&bad| bad)?;
    let error = Error::data(
        path,
        Some(Position::Row(first_row + at as u64)),
        format!(
            "column '{name}': an INT96 timestamp outside the nanosecond range \
             (1677-09-21 to 2262-04-11)"
        ),
    );
    Some((at, error))
}

/// Per element of `array`, whether a value below it does not fit `target` (None: nothing
/// to check below, the types agree).
fn outside(array: &dyn Array, target: &DataType) -> Option<Vec<bool>> {
    if array.data_type() == target {
        return None;
    }
    let valid = |i: usize| array.is_valid(i);
    match (array.data_type(), target) {
        (
            DataType::Timestamp(TimeUnit::Microsecond, _),
            DataType::Timestamp(TimeUnit::Nanosecond, _),
        ) => {
            let micros = array.as_primitive::<TimestampMicrosecondType>();
            let (low, high) = (i64::MIN / 1000, i64::MAX / 1000);
            Some(
                (0..micros.len())
                    .map(|i| valid(i) && !(low..=high).contains(&micros.value(i)))
                    .collect(),
            )
        }
        (DataType::List(_), DataType::List(child))
        | (DataType::Map(_, _), DataType::Map(child, _)) => {
            let list = match array.as_list_opt::<i32>() {
                Some(list) => (list.values().clone(), list.value_offsets().to_vec()),
                None => {
                    let map = array.as_map();
                    (
                        Arc::new(map.entries().clone()) as ArrayRef,
                        map.value_offsets().to_vec(),
                    )
                }
            };
            let below = outside(list.0.as_ref(), child.data_type())?;
            Some(spans(&below, &list.1, valid))
        }
        (DataType::LargeList(_), DataType::LargeList(child)) => {
            let list = array.as_list::<i64>();
            let below = outside(list.values().as_ref(), child.data_type())?;
            let offsets: Vec<i64> = list.value_offsets().to_vec();
            Some(spans(&below, &offsets, valid))
        }
        (DataType::FixedSizeList(_, n), DataType::FixedSizeList(child, _)) => {
            let list = array.as_fixed_size_list();
            let below = outside(list.values().as_ref(), child.data_type())?;
            let n = *n as usize;
            Some(
                (0..array.len())
                    .map(|i| {
                        let start = list.value_offset_at(i);
                        valid(i) && below[start..start + n].contains(&true)
                    })
                    .collect(),
            )
        }
        (DataType::Struct(_), DataType::Struct(children)) => {
            let parts = array.as_struct();
            let mut rows: Option<Vec<bool>> = None;
            for (column, field) in parts.columns().iter().zip(children.iter()) {
                if let Some(below) = outside(column.as_ref(), field.data_type()) {
                    let rows = rows.get_or_insert_with(|| vec![false; array.len()]);
                    for (i, bad) in below.into_iter().enumerate() {
                        rows[i] |= bad && valid(i);
                    }
                }
            }
            rows
        }
        _ => None,
    }
}

/// Per list element, whether one of its items (`offsets` into `items`) is marked.
fn spans<O: Copy + TryInto<usize>>(
    items: &[bool],
    offsets: &[O],
    valid: impl Fn(usize) -> bool,
) -> Vec<bool> {
    let at = |o: O| o.try_into().unwrap_or(0);
    offsets
        .windows(2)
        .enumerate()
        .map(|(i, w)| valid(i) && items[at(w[0])..at(w[1])].contains(&true))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{ListBuilder, TimestampMicrosecondBuilder};
    use arrow_array::{Int64Array, StructArray, TimestampMicrosecondArray};

    const FAR: i64 = i64::MAX / 1000 + 1;

    fn ns() -> DataType {
        DataType::Timestamp(TimeUnit::Nanosecond, None)
    }

    #[test]
    fn a_top_level_value_beyond_nanoseconds_names_its_row() {
        let column: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![
            Some(0),
            None,
            Some(FAR),
        ]));
        match first_outside_nanoseconds(&column, &ns(), "f.parquet", 10, "ts") {
            Some((2, Error::DataFormat { path, position, .. })) => {
                assert_eq!(path, "f.parquet");
                assert_eq!(position, Some(Position::Row(12)));
            }
            other => panic!("expected a DataFormat error at row 2, got {other:?}"),
        }
        let fine: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![
            i64::MIN / 1000,
            i64::MAX / 1000,
        ]));
        assert!(first_outside_nanoseconds(&fine, &ns(), "f.parquet", 0, "ts").is_none());
    }

    #[test]
    fn a_value_inside_a_list_or_struct_names_the_row_that_holds_it() {
        let mut lists = ListBuilder::new(TimestampMicrosecondBuilder::new());
        lists.append_value([Some(1)]);
        lists.append_null();
        lists.append_value([Some(2), Some(FAR)]);
        let lists: ArrayRef = Arc::new(lists.finish());
        let target = DataType::List(Arc::new(Field::new_list_field(ns(), true)));
        let (at, _) = first_outside_nanoseconds(&lists, &target, "f", 0, "l").unwrap();
        assert_eq!(at, 2);
        // A slice starts its rows at its own offset.
        let (at, _) = first_outside_nanoseconds(&lists.slice(1, 2), &target, "f", 0, "l").unwrap();
        assert_eq!(at, 1);
        assert!(first_outside_nanoseconds(&lists.slice(0, 2), &target, "f", 0, "l").is_none());

        let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![Some(1), Some(FAR)]));
        let x: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let decoded = StructArray::from(vec![
            (Arc::new(Field::new("t", ts.data_type().clone(), true)), ts),
            (Arc::new(Field::new("x", DataType::Int64, true)), x),
        ]);
        let target = DataType::Struct(
            vec![
                Field::new("t", ns(), true),
                Field::new("x", DataType::Int64, true),
            ]
            .into(),
        );
        let column: ArrayRef = Arc::new(decoded);
        let (at, _) = first_outside_nanoseconds(&column, &target, "f", 5, "s").unwrap();
        assert_eq!(at, 1);
    }

    #[test]
    fn only_int96_leaves_change_unit() {
        let us = DataType::Timestamp(TimeUnit::Microsecond, None);
        let schema = Schema::new(vec![
            Field::new("a", us.clone(), true),
            Field::new(
                "s",
                DataType::Struct(
                    vec![
                        Field::new("t", us.clone(), true),
                        Field::new("u", us.clone(), true),
                    ]
                    .into(),
                ),
                true,
            ),
            Field::new_list("l", Field::new_list_field(us.clone(), true), true),
        ]);
        // Leaves: a, s.t, s.u, l.item; INT96: s.u and l.item.
        let out = with_int96_unit(&schema, &[false, false, true, true], TimeUnit::Nanosecond);
        assert_eq!(out.field(0).data_type(), &us);
        let DataType::Struct(children) = out.field(1).data_type() else {
            panic!("s stays a struct")
        };
        assert_eq!(children[0].data_type(), &us);
        assert_eq!(children[1].data_type(), &ns());
        let DataType::List(item) = out.field(2).data_type() else {
            panic!("l stays a list")
        };
        assert_eq!(item.data_type(), &ns());
    }
}
