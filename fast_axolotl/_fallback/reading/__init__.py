"""Reference readers: pyarrow + stdlib only. The semantic source of truth for reading.

``open_reader(paths, format, compression, batch_size, columns, on_error)`` returns a
:class:`Reader`: an iterator of ``pyarrow.RecordBatch`` holding exactly ``batch_size``
rows (the last may be shorter), with ``schema()`` and a ``skipped`` count. The rules
(type inference, CSV grammar, error classes) are documented in ``docs/reading.md``;
``rust/core/src/read`` implements the same rules and must give identical batches.

Inputs arrive resolved and validated by the public API: files of one base format
(``parquet arrow feather jsonl json csv tsv text``, or ``"auto"``: sniffed per input) and
one compression (``None``, ``"gzip"``, ``"zstd"``, or ``"auto"``).

One module per job, in arrow-rs's shape: ``source`` (opening inputs, decompression,
named pipes, sniffing), ``records`` (the inference prefix and good rows first, shared by
``json``, ``csv``), ``text``, ``arrowfiles`` (Parquet, Arrow IPC) with ``ipcguard`` and
``zstd``, ``batches`` (projection, exact ``batch_size``), ``reader`` (the kernel).
"""

from .common import INFER_ROWS, MAX_DEPTH, MAX_LINE
from .reader import Reader, open_reader

__all__ = ["INFER_ROWS", "MAX_DEPTH", "MAX_LINE", "Reader", "open_reader"]
