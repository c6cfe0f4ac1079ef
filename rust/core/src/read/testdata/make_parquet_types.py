"""Writes the Parquet fixtures of read/parquet.rs's tests (run with pyarrow installed):
python make_parquet_types.py. Each prints pyarrow's schema for the tests to compare."""

import datetime

import pyarrow as pa
import pyarrow.parquet as pq

table = pa.table(
    {
        "d64": pa.array([datetime.date(2020, 1, 1), None], pa.date64()),
        "ts": pa.array([datetime.datetime(2020, 1, 1, 12), None], pa.timestamp("ns")),
        "m": pa.array([[("a", 1)], None], pa.map_(pa.string(), pa.int64())),
    }
)
pq.write_table(table, "types.parquet", use_deprecated_int96_timestamps=True)
print(pq.read_table("types.parquet").schema)

# Microsecond timestamps written as INT96: the year 1500 does not fit nanoseconds.
far = pa.table(
    {
        "ts": pa.array(
            [datetime.datetime(2000, 1, 1), datetime.datetime(1500, 1, 1)],
            pa.timestamp("us"),
        )
    }
)
pq.write_table(far, "int96_far.parquet", use_deprecated_int96_timestamps=True)

# INT96 below the top level (a list, a struct, a map): pyarrow reads them as nanoseconds too.
# Row 2's list holds the year 1500, row 3's struct the year 1400 (in int96_nested_far only).
us = pa.timestamp("us")


def nested(far: bool) -> pa.Table:
    t = datetime.datetime
    return pa.table(
        {
            "id": [0, 1, 2, 3],
            "l": pa.array([[t(2000, 1, 1)], None, [t(2001, 1, 1), t(1500 if far else 2002, 1, 1)], []], pa.list_(us)),
            "s": pa.array(
                [
                    {"t": t(2000, 1, 1), "x": 1},
                    None,
                    {"t": None, "x": 3},
                    {"t": t(1400 if far else 2003, 1, 1), "x": 4},
                ],
                pa.struct([("t", us), ("x", pa.int64())]),
            ),
            "m": pa.array([[("k", t(2000, 1, 1))], None, [], [("z", t(2004, 1, 1))]], pa.map_(pa.string(), us)),
        }
    )


pq.write_table(nested(False), "int96_nested.parquet", use_deprecated_int96_timestamps=True)
pq.write_table(nested(True), "int96_nested_far.parquet", use_deprecated_int96_timestamps=True)
print(pq.read_table("int96_nested.parquet").schema)
