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
