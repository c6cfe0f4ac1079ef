"""Hypothesis strategies for Arrow tables of the types training datasets hold."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
_floats = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from([0.0, -0.0, 1.0, float("nan")])


def _ints(bits: int, signed: bool) -> st.SearchStrategy[int]:
    if signed:
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) | st.sampled_from([0, 1, -1])
    return st.integers(0, 2**bits - 1) | st.sampled_from([0, 1])


def _nullable(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | values


# (Arrow type, strategy of Python values for it)
SCALARS: list[tuple[pa.DataType, st.SearchStrategy[Any]]] = [
    (pa.int8(), _ints(8, True)),
    (pa.int16(), _ints(16, True)),
    (pa.int32(), _ints(32, True)),
    (pa.int64(), _ints(64, True)),
    (pa.uint8(), _ints(8, False)),
    (pa.uint32(), _ints(32, False)),
    (pa.uint64(), _ints(64, False)),
    (pa.float32(), st.floats(width=32, allow_nan=True) | st.sampled_from([0.0, -0.0, 1.0])),
    (pa.float64(), _floats),
    (pa.bool_(), st.booleans()),
    (pa.string(), _text),
    (pa.large_string(), _text),
    (pa.binary(), st.binary(max_size=6)),
    (pa.null(), st.none()),
]


@st.composite
def column_types(draw: st.DrawFn, depth: int = 0) -> tuple[pa.DataType, st.SearchStrategy[Any]]:
    choice = draw(st.integers(0, 9 if depth < 2 else 5))
    if choice <= 5:
        return draw(st.sampled_from(SCALARS))
    inner_type, inner_values = draw(column_types(depth + 1))
    if choice in (6, 7):
        list_type = pa.list_(inner_type) if choice == 6 else pa.large_list(inner_type)
        return list_type, st.lists(_nullable(inner_values), max_size=5)
    if choice == 8:
        return pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])), st.lists(
            st.fixed_dictionaries(
                {"role": _nullable(st.sampled_from(["user", "assistant"])), "content": _nullable(_text)}
            ),
            max_size=3,
        )
    other_type, other_values = draw(column_types(depth + 1))
    struct_type = pa.struct([("a", inner_type), ("b", other_type)])
    return struct_type, st.fixed_dictionaries({"a": _nullable(inner_values), "b": _nullable(other_values)})


@st.composite
def tables(draw: st.DrawFn, max_rows: int = 12, duplicates: bool = True) -> pa.Table:
    """A table with 1-4 typed columns; with ``duplicates`` rows are drawn from a small pool."""
    ncols = draw(st.integers(1, 4))
    names = draw(
        st.lists(
            st.sampled_from(["input_ids", "labels", "text", "x", "y", "é"]), min_size=ncols, max_size=ncols, unique=True
        )
    )
    specs = [draw(column_types()) for _ in names]
    row_strategy = st.tuples(*[_nullable(values) for _, values in specs])
    if duplicates:
        pool = draw(st.lists(row_strategy, min_size=1, max_size=5))
        rows = draw(st.lists(st.sampled_from(pool), max_size=max_rows))
    else:
        rows = draw(st.lists(row_strategy, max_size=max_rows))
    columns = [pa.array([row[i] for row in rows], type=kind) for i, (kind, _) in enumerate(specs)]
    return pa.Table.from_arrays(columns, names=names)
