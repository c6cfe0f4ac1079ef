"""A Ray Dataset as an ordered list of Arrow blocks, the errors of its tasks, and plans that
cut it into ranges of global row numbers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import ray
import ray.data

from ..errors import ArgumentTypeError, FastAxolotlError


def check_dataset(ds: Any, name: str = "ds") -> ray.data.Dataset:
    if not isinstance(ds, ray.data.Dataset):
        raise ArgumentTypeError(f"{name} must be a ray.data.Dataset, got {type(ds).__name__}")
    return ds


def cause(exc: BaseException) -> BaseException:
    """Our own error inside a failed Ray task (Ray wraps it, sometimes twice: a task error
    inside Ray Data's executor); any other exception as it came."""
    seen = exc
    for _ in range(8):
        inner = getattr(seen, "cause", None) or seen.__cause__
        if isinstance(seen, FastAxolotlError) and not isinstance(seen, ray.exceptions.RayError):
            return seen
        if inner is None:
            break
        seen = inner
    return seen if isinstance(seen, FastAxolotlError) else exc


@contextlib.contextmanager
def our_errors() -> Iterator[None]:
    """Re-raise a fast-axolotl error from a Ray task as itself (naming the file and the
    position), not as the RayTaskError that carries it."""
    try:
        yield
    except (ray.exceptions.RayError, ray.data.exceptions.UserCodeException) as exc:
        inner = cause(exc)
        if inner is exc:
            raise
        _drop_retry_note(inner)
        raise inner.with_traceback(None) from None


def _drop_retry_note(exc: BaseException) -> None:
    """Ray Data appends its retry advice to the first argument of a task's exception
    ("Failed to apply UDF transform after 1/1 attempts ..."); ours carries its own message,
    the file and the position, so the advice is cut off again."""
    if exc.args and isinstance(exc.args[0], str):
        message, sep, rest = exc.args[0].partition("\nFailed to ")
        if sep and "attempts (total backoff" in rest:
            exc.args = (message, *exc.args[1:])


def get(refs: Any) -> Any:
    with our_errors():
        return ray.get(refs)


def ordered_blocks(ds: ray.data.Dataset) -> list[ray.ObjectRef]:
    """The dataset's blocks (Arrow tables) in the dataset's order. Ray Data may deliver a
    streamed dataset's blocks in the order they finish; its own `preserve_order` option,
    set on the dataset's context for this execution, keeps them in order."""
    options = ds.context.execution_options
    before = options.preserve_order
    options.preserve_order = True
    try:
        with our_errors():
            return list(ds.to_arrow_refs())
    finally:
        options.preserve_order = before


def in_order(ds: ray.data.Dataset) -> ray.data.Dataset:
    """``ds`` (a result: blocks in the dataset's order), told to keep that order through
    whatever the caller runs on it next (Ray Data's ``preserve_order``, on its own context)."""
    ds.context.execution_options.preserve_order = True
    return ds


def from_blocks(refs: Sequence[ray.ObjectRef], empty: pa.Table) -> ray.data.Dataset:
    """A result dataset over computed blocks, in order (``empty`` when there is none)."""
    with our_errors():
        ds = ray.data.from_arrow_refs(list(refs)) if refs else ray.data.from_arrow([empty])
    return in_order(ds)


def _num_rows(table: pa.Table) -> int:
    return int(table.num_rows)


def block_rows(blocks: Sequence[ray.ObjectRef]) -> list[int]:
    """Rows of each block (a task per block, where the block lives; only the counts move)."""
    count = ray.remote(_num_rows)
    return [int(n) for n in get([count.remote(b) for b in blocks])]


@dataclass(frozen=True)
class Piece:
    """Rows ``[start, stop)`` of block ``block``."""

    block: int
    start: int
    stop: int


@dataclass(frozen=True)
class Span:
    """Global rows ``[first, first + rows)``, made of pieces of consecutive blocks."""

    first: int
    rows: int
    pieces: tuple[Piece, ...]


def spans(counts: Sequence[int], unit: int, target_rows: int) -> list[Span]:
    """Cut rows (blocks of ``counts`` rows) into spans of whole ``unit``-row groups (the
    last may be partial) of about ``target_rows`` rows each: a group never straddles two
    spans, so a function of each group gives the same result as on one machine."""
    total = sum(counts)
    per_span = max(unit, -(-max(target_rows, 1) // unit) * unit)
    starts = [0]
    for n in counts:
        starts.append(starts[-1] + n)
    out: list[Span] = []
    block = 0
    for first in range(0, total, per_span):
        last = min(first + per_span, total)
        pieces = []
        while block < len(counts) and starts[block + 1] <= first:
            block += 1
        b = block
        while b < len(counts) and starts[b] < last:
            lo, hi = max(first, starts[b]), min(last, starts[b + 1])
            if hi > lo:
                pieces.append(Piece(b, lo - starts[b], hi - starts[b]))
            b += 1
        out.append(Span(first, last - first, tuple(pieces)))
    return out


def gather(pieces: Sequence[Piece], tables: Sequence[pa.Table]) -> pa.Table:
    """The rows of ``pieces``, one table (``tables``: the pieces' blocks, in order)."""
    parts = [t.slice(p.start, p.stop - p.start) for p, t in zip(pieces, tables, strict=True)]
    if len(parts) == 1:
        return parts[0]
    return pa.concat_tables(parts).combine_chunks()


def run_spans(
    blocks: Sequence[ray.ObjectRef],
    plan: Sequence[Span],
    task: Any,
    *args: Any,
) -> list[ray.ObjectRef]:
    """One ``task.remote(span, *args, *piece_tables)`` per span: the task receives only the
    blocks its span covers."""
    return [task.remote(span, *args, *[blocks[p.block] for p in span.pieces]) for span in plan]


def target_rows(counts: Sequence[int]) -> int:
    """Rows per span: about one block's."""
    nonempty = [n for n in counts if n]
    return max(1, sum(nonempty) // max(1, len(nonempty)))
