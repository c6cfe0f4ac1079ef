"""Exact deduplication on a Ray cluster, equal row for row to ``fa.deduplicate``.

Three stages of plain Ray tasks, none of which (nor the driver) holds all digests:

1. per block ``b`` (where it lives): the rows' SHA-256 digests (``hash_table``, the same row
   encoding as on one machine), split by digest prefix into ``P`` partitions, each a pair
   (digests, row numbers within the block) in row order;
2. per partition ``p``: the pairs of every block for ``p``, in block order, so in the
   dataset's row order; the first occurrence of each digest is kept, and any digest in
   ``seen`` (partitioned the same way) dropped; out come, per block, its kept rows;
3. per block: the rows kept by every partition, sorted, taken from the block.

Memory, with ``N`` rows, ``B`` blocks of ``N/B`` rows and ``P`` partitions: a stage-1 task
holds its block and ``40 N/B`` bytes of pairs; a stage-2 task ``2 x 48 N/P`` bytes (the pairs
with their block numbers, then the sorted copy) plus its share of ``seen`` (32 bytes each);
a stage-3 task its block and ``8`` bytes per kept row. The driver holds ``B x P`` object
references and no digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import ray
import ray.data

from .._inputs import check_int
from ..errors import ArgumentTypeError, InvalidArgumentError
from ._blocks import check_dataset, from_blocks, ordered_blocks

DIGEST = 32
#: Partitions at most (``B x P`` object references are made; docs/distributed.md).
MAX_PARTITIONS = 65_536
Pairs = tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]


def partition_of(digests: npt.NDArray[np.uint8], partitions: int) -> npt.NDArray[np.int64]:
    """Partition of each digest: its first 4 bytes scaled to ``[0, partitions)`` (SHA-256
    bytes are uniform, so the partitions are even)."""
    prefix = digests[:, :4].copy().view(">u4").ravel().astype(np.uint64)
    return np.asarray((prefix * np.uint64(partitions)) >> np.uint64(32), dtype=np.int64)


def split_by_partition(digests: npt.NDArray[np.uint8], partitions: int) -> list[Pairs]:
    """(digests, row numbers) of each partition, rows ascending within each."""
    part = partition_of(digests, partitions)
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(partitions + 1))
    return [
        (digests[order[lo:hi]], order[lo:hi].astype(np.int64)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def _hash_block(table: pa.Table, partitions: int, columns: list[str] | None) -> list[Any]:
    import fast_axolotl as fa

    digests = fa.hash_table(table, columns) if table.num_rows else np.zeros((0, DIGEST), np.uint8)
    return [table.num_rows, *split_by_partition(digests, partitions)]


def _split_seen(table: pa.Table, partitions: int) -> list[npt.NDArray[np.uint8]]:
    digests = digests_of_column(table)
    return [d for d, _ in split_by_partition(digests, partitions)]


def digests_of_column(table: pa.Table) -> npt.NDArray[np.uint8]:
    column = table.column("digest").combine_chunks() if table.num_rows else None
    if column is None:
        return np.zeros((0, DIGEST), np.uint8)
    if not pa.types.is_fixed_size_binary(column.type) or column.type.byte_width != DIGEST:
        raise ArgumentTypeError(f"seen: the 'digest' column must be fixed_size_binary(32), got {column.type}")
    if column.null_count:
        raise ArgumentTypeError("seen: the 'digest' column holds nulls")
    buffer = column.buffers()[1]
    raw = np.frombuffer(buffer, np.uint8)[column.offset * DIGEST : (column.offset + len(column)) * DIGEST]
    return raw.reshape(-1, DIGEST)


def first_indices(digests: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """Ascending indices of the first occurrence of each distinct digest. Sorting by the
    first 8 bytes groups equal digests; only rows that share those bytes with another (the
    duplicates, and in theory a prefix collision) are sorted again by the whole digest and
    their index, so exactness never rests on the prefix."""
    n = len(digests)
    if n == 0:
        return np.zeros(0, np.int64)
    words = np.ascontiguousarray(digests).view(np.uint64).reshape(n, 4)
    order = np.argsort(words[:, 0])
    head = words[order, 0]
    equal = head[1:] == head[:-1]
    tied = np.zeros(n, dtype=bool)
    tied[1:] |= equal
    tied[:-1] |= equal
    first = order[~tied]
    ties = order[tied]
    if len(ties):
        sub = words[ties]
        by_digest = np.lexsort((ties, sub[:, 3], sub[:, 2], sub[:, 1], sub[:, 0]))
        grouped = sub[by_digest]
        starts = np.ones(len(ties), dtype=bool)
        starts[1:] = np.any(grouped[1:] != grouped[:-1], axis=1)
        first = np.concatenate([first, ties[by_digest][starts]])
    first.sort()
    return first.astype(np.int64, copy=False)


def first_occurrences(pairs: Sequence[Pairs], seen: Sequence[npt.NDArray[np.uint8]]) -> list[npt.NDArray[np.int64]]:
    """Per block, the rows (within the block, ascending) that hold the first occurrence of
    their digest over all blocks (``pairs``: one partition's pairs of each block, in block
    order, so in the dataset's row order) and whose digest is not in ``seen``."""
    blocks = len(pairs)
    sizes = np.array([len(rows) for _, rows in pairs], dtype=np.int64)
    known = sum(len(s) for s in seen)
    # ``seen`` goes first: a digest it holds has its first occurrence there, so every row
    # of the dataset with that digest is dropped.
    digests = np.concatenate([*seen, *[d for d, _ in pairs]]) if known or sizes.sum() else None
    if digests is None or not sizes.sum():
        return [np.zeros(0, np.int64) for _ in range(blocks)]
    first = first_indices(digests)
    first = first[first >= known] - known
    block_of = np.repeat(np.arange(blocks, dtype=np.int64), sizes)
    rows = np.concatenate([r for _, r in pairs])
    kept_blocks, kept_rows = block_of[first], rows[first]
    bounds = np.searchsorted(kept_blocks, np.arange(blocks + 1))
    return [kept_rows[bounds[b] : bounds[b + 1]] for b in range(blocks)]


def _reduce_partition(blocks: int, n_seen: int, *parts: Any) -> Any:
    """Stage 2 for one partition: ``parts`` are its share of ``seen`` (``n_seen`` arrays)
    then its pairs of every block (object references passed as arguments, so Ray moves
    them here, never through the driver)."""
    kept = first_occurrences(parts[n_seen:], parts[:n_seen])
    return kept if blocks != 1 else kept[0]


def _take_kept(table: pa.Table, *kept: npt.NDArray[np.int64]) -> pa.Table:
    rows = np.sort(np.concatenate(kept)) if kept else np.zeros(0, np.int64)
    if len(rows) == table.num_rows:
        return table
    return table.take(pa.array(rows, type=pa.int64()))


def _seen_parts(seen: Any, partitions: int) -> list[list[Any]]:
    """``seen`` split by partition: per partition, a list of object refs (or arrays)."""
    if seen is None:
        return [[] for _ in range(partitions)]
    if isinstance(seen, (set, frozenset)):
        if any(not isinstance(d, bytes) or len(d) != DIGEST for d in seen):
            raise ArgumentTypeError("seen must hold 32-byte digests (from fast_axolotl.deduplicate)")
        digests = np.frombuffer(b"".join(sorted(seen)), np.uint8).reshape(-1, DIGEST)
        return [[ray.put(d)] for d, _ in split_by_partition(digests, partitions)]
    if isinstance(seen, ray.data.Dataset):
        split = ray.remote(_split_seen).options(num_returns=partitions) if partitions > 1 else ray.remote(_split_seen)
        parts: list[list[Any]] = [[] for _ in range(partitions)]
        for block in ordered_blocks(seen):
            outs = split.remote(block, partitions)
            for p in range(partitions):
                parts[p].append(outs[p] if partitions > 1 else outs)
        return parts
    raise ArgumentTypeError(
        f"seen must be a set of digests or a ray.data.Dataset with a 'digest' column, got {type(seen).__name__}"
    )


def default_partitions(blocks: int) -> int:
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(blocks, 2 * cpus))


def deduplicate(
    ds: ray.data.Dataset,
    seen: Any = None,
    *,
    columns: Sequence[str] | None = None,
    num_partitions: int | None = None,
) -> ray.data.Dataset:
    """Exact deduplication of a Ray Dataset: the first occurrence of each row (all columns,
    or ``columns``, hashed as ``fa.hash_table`` does) in the dataset's order, the kept rows
    in their order: row for row what ``fa.deduplicate`` gives on the same rows on one
    machine. ``seen``: digests of another split (a set of 32-byte digests, or a Dataset with
    a ``digest`` column such as :func:`digests` gives), whose rows are dropped too.

    The work runs now (the result's blocks are computed by the time it returns); see the
    module's documentation for the stages and the memory of each task."""
    check_dataset(ds)
    cols = list(columns) if columns is not None else None
    blocks = ordered_blocks(ds)
    if not blocks:
        return ds
    partitions = default_partitions(len(blocks)) if num_partitions is None else num_partitions
    check_int("num_partitions", partitions, minimum=1)
    if partitions > MAX_PARTITIONS:
        # Each block's hash task returns one object per partition: the count is bounded.
        raise InvalidArgumentError(f"num_partitions must be at most {MAX_PARTITIONS:,}, got {partitions:,}")
    seen_parts = _seen_parts(seen, partitions)
    hash_block = ray.remote(_hash_block).options(num_returns=partitions + 1)
    hashed = [hash_block.remote(b, partitions, cols) for b in blocks]
    reduce = ray.remote(_reduce_partition)
    if len(blocks) > 1:
        reduce = reduce.options(num_returns=len(blocks))
    kept = []
    for p in range(partitions):
        out = reduce.remote(len(blocks), len(seen_parts[p]), *seen_parts[p], *[h[p + 1] for h in hashed])
        kept.append(out if len(blocks) > 1 else [out])
    take = ray.remote(_take_kept)
    results = [take.remote(block, *[kept[p][b] for p in range(partitions)]) for b, block in enumerate(blocks)]
    # (One result block per input block: never empty here.) An error of any stage surfaces here, as ours.
    return from_blocks(results, pa.table({}))


def _digest_batch(table: pa.Table, columns: list[str] | None) -> pa.Table:
    import fast_axolotl as fa

    raw = fa.hash_table(table, columns) if table.num_rows else np.zeros((0, DIGEST), np.uint8)
    array = pa.FixedSizeBinaryArray.from_buffers(pa.binary(DIGEST), len(raw), [None, pa.py_buffer(raw.tobytes())])
    return pa.table({"digest": array})


def digests(ds: ray.data.Dataset, *, columns: Sequence[str] | None = None) -> ray.data.Dataset:
    """One ``digest`` (fixed_size_binary(32)) per row, the digest ``fa.hash_table`` gives:
    pass it as ``seen`` to deduplicate another split against this one."""
    check_dataset(ds)
    cols = list(columns) if columns is not None else None
    return ds.map_batches(_digest_batch, batch_format="pyarrow", fn_kwargs={"columns": cols}, zero_copy_batch=True)
