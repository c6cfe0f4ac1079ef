"""Writing ``prepare``'s result: Parquet, an Arrow IPC file, or a Hugging Face
``save_to_disk`` folder (what ``datasets.load_from_disk`` and Axolotl's
``dataset_prepared_path`` / a local ``datasets: - path: DIR`` entry load)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from ..errors import InvalidArgumentError
from .progress import Progress

FORMATS = ("parquet", "arrow", "hf")
_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow"}
_SLICE_ROWS = 10_000


def output_format(output: str, requested: str | None) -> str:
    """``requested``, else from ``output``: a known suffix, or a folder (``dir/``, an existing
    directory, or no suffix at all) for ``hf``."""
    if requested is not None:
        return requested
    path = Path(output)
    if output.endswith(("/", "\\")) or path.is_dir() or not path.suffix:
        return "hf"
    if path.suffix.lower() in _SUFFIXES:
        return _SUFFIXES[path.suffix.lower()]
    known = ", ".join(sorted(_SUFFIXES))
    raise InvalidArgumentError(f"cannot tell the output format of {output!r} ({known} or a folder); pass --format")


def write(table: pa.Table, output: str, fmt: str, progress: Progress) -> None:
    if fmt == "hf":
        _save_to_disk(table, output, progress)
        return
    path = Path(output)
    if path.is_dir():
        raise InvalidArgumentError(f"-o {output} is a directory; {fmt} output needs a file name")
    if not path.parent.exists():
        raise InvalidArgumentError(f"-o {output}: the directory {path.parent} does not exist")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        writer: pq.ParquetWriter | pa.ipc.RecordBatchFileWriter = pq.ParquetWriter(path, table.schema)
    else:
        writer = pa.ipc.new_file(path, table.schema)
    with writer, progress.counter("writing", "rows", total=table.num_rows) as bar:
        for start in range(0, table.num_rows, _SLICE_ROWS):
            piece = table.slice(start, _SLICE_ROWS)
            writer.write_table(piece)
            bar.update(piece.num_rows)
        if table.num_rows == 0:
            writer.write_table(table)


def _save_to_disk(table: pa.Table, output: str, progress: Progress) -> None:
    try:
        import datasets
    except ImportError:
        raise InvalidArgumentError(
            "a save_to_disk folder needs the `datasets` package (pip install 'fast-axolotl[datasets]'); "
            "or write .parquet / .arrow"
        ) from None
    path = Path(output)
    if path.exists() and not path.is_dir():
        raise InvalidArgumentError(f"-o {output} is a file; a save_to_disk folder needs a directory")
    if not progress.enabled:
        datasets.disable_progress_bars()
    datasets.Dataset(datasets.table.InMemoryTable(table)).save_to_disk(str(path))
