"""Differential tests of the readers: native vs reference on generated files.

Both backends must give the same batches (values, Arrow types, boundaries), the same
``skipped`` count, or the same exception class. ``HYPOTHESIS_PROFILE=parity`` runs
thousands of cases (about 1,500 per test).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

sys.path.insert(0, str(Path(__file__).parent))

from reading_helpers import arrow_bytes, both, compress, csv_bytes, parquet_bytes  # noqa: E402

from fast_axolotl import _backend  # noqa: E402

try:  # the suite's conftest may already have registered the profiles
    settings.get_profile("parity")
except InvalidArgument:
    settings.register_profile("default", max_examples=100, deadline=None)
    settings.register_profile("parity", max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

pytestmark = pytest.mark.skipif(_backend.native_module() is None, reason="needs the native extension")

HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
COMPRESSION = st.sampled_from([None, "gzip", "zstd"])
SUFFIX = {None: "", "gzip": ".gz", "zstd": ".zst"}
INFER_ROWS = 1000

_counter = [0]


def fresh(tmp: Path, name: str) -> Path:
    _counter[0] += 1
    directory = tmp / f"case{_counter[0]}"
    directory.mkdir()
    return directory / name


# ---------------------------------------------------------------------------
# Arrow-typed data: Parquet, IPC file/stream, Feather

TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=8)
COLUMN_KINDS: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "i8": (pa.int8(), st.integers(-128, 127)),
    "i16": (pa.int16(), st.integers(-(2**15), 2**15 - 1)),
    "i64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "f64": (pa.float64(), st.floats(allow_nan=False)),
    "bool": (pa.bool_(), st.booleans()),
    "str": (pa.string(), TEXT),
    "lstr": (pa.large_string(), TEXT),
    "list_i8": (pa.list_(pa.int8()), st.lists(st.integers(-128, 127), max_size=4)),
    "llist": (pa.large_list(pa.int64()), st.lists(st.integers(-5, 5), max_size=4)),
    "chat": (
        pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
        st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": TEXT}), max_size=3),
    ),
}


@st.composite
def arrow_tables(draw: Any) -> pa.Table:
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMN_KINDS)), min_size=1, max_size=5, unique=True))
    rows = draw(st.integers(0, 40))
    columns = {}
    for kind in kinds:
        arrow_type, values = COLUMN_KINDS[kind]
        column = draw(st.lists(st.none() | values, min_size=rows, max_size=rows))
        columns[kind] = pa.array(column, arrow_type)
    return pa.table(columns)


@settings(suppress_health_check=HEALTH)
@given(
    table=arrow_tables(),
    container=st.sampled_from(["parquet", "ipc_file", "ipc_stream", "feather"]),
    chunk=st.integers(1, 16),
    codec=st.sampled_from([None, "lz4", "zstd"]),
    compression=COMPRESSION,
    batch_size=st.integers(1, 50),
    project=st.booleans(),
    data=st.data(),
)
def test_arrow_formats(
    tmp_path: Path,
    table: pa.Table,
    container: str,
    chunk: int,
    codec: str | None,
    compression: str | None,
    batch_size: int,
    project: bool,
    data: Any,
) -> None:
    if container == "parquet":
        raw, name = parquet_bytes(table, row_group_size=chunk), "t.parquet"
    elif container == "feather":
        raw, name = arrow_bytes(table, "file", chunk, codec), "t.feather"
    else:
        raw, name = arrow_bytes(table, container[4:], chunk, codec), "t.arrow"
    path = fresh(tmp_path, name + SUFFIX[compression])
    path.write_bytes(compress(raw, compression))
    columns = None
    if project:
        columns = data.draw(st.permutations(table.column_names)).copy()[: data.draw(st.integers(1, table.num_columns))]
    result = both(path, batch_size=batch_size, columns=columns)
    assert result[0] == "ok"
    got = pa.Table.from_batches(result[1][0], schema=result[1][1])
    assert got.equals(table.select(columns) if columns else table)


# ---------------------------------------------------------------------------
# JSON / JSONL from generated records

KEYS = st.sampled_from(["a", "b", "c", "messages", "é"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=6,
)
RECORDS = st.dictionaries(KEYS, VALUES, max_size=4)
JUNK = st.sampled_from(["", "   ", "{", "[1]", '{"a": NaN}', "null", '{"a": 1e999}', '"x"', "\r", '{"a":1}{'])


def dumps(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False)


@settings(suppress_health_check=HEALTH)
@given(
    records=st.lists(RECORDS | JUNK, max_size=25),
    template=st.none() | RECORDS,
    array=st.booleans(),
    compression=COMPRESSION,
    batch_size=st.integers(1, 30),
    on_error=st.sampled_from(["raise", "skip"]),
)
def test_json_records(
    tmp_path: Path,
    records: list[Any],
    template: dict[str, Any] | None,
    array: bool,
    compression: str | None,
    batch_size: int,
    on_error: str,
) -> None:
    """Generated records; a repeated template fills the inference prefix when given, so that
    the later records are checked against a fixed schema."""
    prefix = [template] * INFER_ROWS if template is not None else []
    if array:
        items = [
            dumps(r) if isinstance(r, dict) else (r if r.strip() and r not in ("{", '{"a":1}{') else "0")
            for r in prefix + records
        ]
        text = "[" + ",\n".join(items) + "]"
        name = "r.json"
    else:
        text = "\n".join(dumps(r) if isinstance(r, dict) else r for r in prefix + records)
        name = "r.jsonl"
    path = fresh(tmp_path, name + SUFFIX[compression])
    path.write_bytes(compress(text.encode("utf-8", "surrogatepass"), compression))
    both(path, format="json" if array else "jsonl", batch_size=batch_size, on_error=on_error)


JSON_TOKENS = st.sampled_from(
    [
        "{",
        "}",
        "[",
        "]",
        '"a"',
        '"b"',
        ":",
        ",",
        "1",
        "-",
        "0",
        ".",
        "e",
        "5",
        "true",
        "null",
        "NaN",
        '"\\ud800"',
        '"\\ud83d\\ude80"',
        '" "',
        " ",
        "\r",
        "\\",
        "é",
        '"',
        "99999999999999999999",
        "\t",
    ]
)


@settings(suppress_health_check=HEALTH)
@given(
    lines=st.lists(st.lists(JSON_TOKENS, max_size=12).map("".join), max_size=12),
    array=st.booleans(),
    batch_size=st.integers(1, 5),
    on_error=st.sampled_from(["raise", "skip"]),
)
def test_json_token_soup(tmp_path: Path, lines: list[str], array: bool, batch_size: int, on_error: str) -> None:
    text = "\n".join(lines)
    if array:
        text = "[" + text + "]"
    path = fresh(tmp_path, "soup.json" if array else "soup.jsonl")
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    both(path, format="json" if array else "jsonl", batch_size=batch_size, on_error=on_error)


# ---------------------------------------------------------------------------
# CSV / TSV / text

CSV_TOKENS = st.sampled_from(
    [
        "a",
        "1",
        "-",
        "0",
        ".",
        "e",
        "2.5",
        "true",
        "False",
        ",",
        "\t",
        '"',
        '""',
        "\r",
        "\n",
        "\r\n",
        "é",
        " ",
        "\xff",
        "9223372036854775808",
        "1e400",
        "007",
    ]
)


@settings(suppress_health_check=HEALTH)
@given(
    header=st.lists(st.sampled_from(["x", "y", "z", "é", ""]), min_size=1, max_size=3),
    body=st.lists(CSV_TOKENS, max_size=60),
    tsv=st.booleans(),
    compression=COMPRESSION,
    batch_size=st.integers(1, 6),
    on_error=st.sampled_from(["raise", "skip"]),
)
def test_csv_soup(
    tmp_path: Path,
    header: list[str],
    body: list[str],
    tsv: bool,
    compression: str | None,
    batch_size: int,
    on_error: str,
) -> None:
    delimiter = "\t" if tsv else ","
    text = delimiter.join(header) + "\n" + "".join(body)
    raw = text.encode("utf-8").replace("\xff".encode(), b"\xff")
    path = fresh(tmp_path, ("s.tsv" if tsv else "s.csv") + SUFFIX[compression])
    path.write_bytes(compress(raw, compression))
    both(path, batch_size=batch_size, on_error=on_error)


@settings(suppress_health_check=HEALTH)
@given(
    rows=st.lists(
        st.lists(
            st.none()
            | st.integers(-5, 5)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.sampled_from(["true", "False", "x", 'a"b', "c,d", "line\nbreak", " "]),
            min_size=2,
            max_size=2,
        ),
        max_size=20,
    ),
    template=st.none() | st.sampled_from([[1, "true"], [1.5, "s"], ["", ""]]),
    batch_size=st.integers(1, 8),
    on_error=st.sampled_from(["raise", "skip"]),
)
def test_csv_records(
    tmp_path: Path, rows: list[list[Any]], template: list[Any] | None, batch_size: int, on_error: str
) -> None:
    prefix = [template] * INFER_ROWS if template is not None else []
    path = fresh(tmp_path, "r.csv")
    path.write_bytes(csv_bytes(["p", "q"], prefix + rows))
    both(path, batch_size=batch_size, on_error=on_error)


@settings(suppress_health_check=HEALTH)
@given(
    parts=st.lists(
        st.sampled_from([b"a", b"\n", b"\r", b"\r\n", b"\xff", "é".encode(), b"\xef\xbb\xbf", b" "]), max_size=30
    ),
    compression=COMPRESSION,
    batch_size=st.integers(1, 5),
    on_error=st.sampled_from(["raise", "skip"]),
)
def test_text_soup(tmp_path: Path, parts: list[bytes], compression: str | None, batch_size: int, on_error: str) -> None:
    path = fresh(tmp_path, "t.txt" + SUFFIX[compression])
    path.write_bytes(compress(b"".join(parts), compression))
    both(path, batch_size=batch_size, on_error=on_error)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
@pytest.mark.parametrize("kept", [0.05, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_bad_record_before_a_truncation(tmp_path: Path, compression: str, kept: float, on_error: str) -> None:
    """A bad record that decodes before the damage is met first, on both backends (the
    reference once read ahead and met the truncation first)."""
    lines = [json.dumps({"a": i, "t": "x" * (i % 300)}) for i in range(3000)]
    lines[2] = '{"a": "not an int"}'
    raw = compress(("\n".join(lines) + "\n").encode(), compression)
    path = fresh(tmp_path, "d.jsonl" + SUFFIX[compression])
    path.write_bytes(raw[: int(len(raw) * kept)])
    both(path, batch_size=999, on_error=on_error)


# ---------------------------------------------------------------------------
# Damaged files: truncation anywhere, and bit flips in gzip / plain text formats


@settings(suppress_health_check=HEALTH)
@given(
    table=arrow_tables(),
    container=st.sampled_from(["parquet", "ipc_file", "ipc_stream", "jsonl", "csv"]),
    compression=COMPRESSION,
    damage=st.sampled_from(["truncate", "flip"]),
    where=st.floats(0, 1, exclude_max=True),
    bit=st.integers(0, 7),
)
def test_damaged_files(
    tmp_path: Path, table: pa.Table, container: str, compression: str | None, damage: str, where: float, bit: int
) -> None:
    if container == "parquet":
        raw, name = parquet_bytes(table, row_group_size=7), "d.parquet"
    elif container.startswith("ipc"):
        raw, name = arrow_bytes(table, container[4:], 7), "d.arrow"
    elif container == "jsonl":
        raw = "".join(
            dumps({k: (str(v) if isinstance(v, bytes) else v) for k, v in r.items()}) + "\n" for r in table.to_pylist()
        ).encode()
        name = "d.jsonl"
    else:
        raw, name = csv_bytes(["c"], [[r.get(table.column_names[0])] for r in table.to_pylist()]), "d.csv"
    data = bytearray(compress(raw, compression))
    assume(len(data) > 0)
    at = int(where * len(data))
    if damage == "truncate":
        data = data[:at]
    else:
        # Bit flips: only where both decoders must agree. Not in compressed streams: zstd
        # frames are unchecksummed, and gzip's CRC is checked only at the member's end, so
        # garbage is parsed before it wherever each backend's read-ahead happens to be (both
        # raise a DataFormatError, maybe different subclasses). Gzip header flips are covered
        # by test_reading.py. No binary containers: unvalidated payload bytes.
        assume(compression is None and container in ("jsonl", "csv"))
        data[at] ^= 1 << bit
    path = fresh(tmp_path, name + SUFFIX[compression])
    path.write_bytes(bytes(data))
    fmt = {"parquet": "parquet", "ipc_file": "arrow", "ipc_stream": "arrow", "jsonl": "jsonl", "csv": "csv"}[container]
    both(path, format=fmt, batch_size=5)


@pytest.mark.parametrize("cut", range(0, 9))
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_ipc_stream_cut_in_its_end_marker(tmp_path: Path, cut: int, compression: str | None) -> None:
    """A stream may end without its end-of-stream marker, or with the marker whole;
    ending inside a message's 4-byte marker is a truncated file in both backends (found
    by test_damaged_files: arrow-rs alone treated it as a clean end)."""
    raw = arrow_bytes(pa.table({"a": [1, 2, 3]}), "stream")
    path = tmp_path / ("s.arrow" + ("" if compression is None else ".gz"))
    path.write_bytes(compress(raw[: len(raw) - cut], compression))
    kind, _ = both(path, format="arrow", batch_size=2)
    assert kind == ("ok" if cut in (0, 8) else "error"), cut
