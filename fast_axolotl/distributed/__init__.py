"""fast-axolotl on a Ray cluster (``pip install fast-axolotl[ray]``; Ray is imported here only).

- :func:`read`: our reader as a Ray Data datasource, a read task per file, the rows in
  ``read_table``'s order.
- :func:`deduplicate`: exact deduplication (``fa.deduplicate``'s row encoding, digests and
  first-occurrence rule), digests exchanged by prefix between tasks; no task nor the driver
  holds all digests. :func:`digests` gives a dataset's digests for ``seen``.
- :func:`pack`, :func:`pack_bins`: ``fa.pack_sequences`` batch by batch and ``fa.pack_bins``
  group by group, by ranges of global row numbers.

A dataset's order is the order of its blocks; these functions execute their input with Ray
Data's ``preserve_order``, so the results are those of the single-machine functions on the
same rows. An error of ours in a task (a bad file: :class:`~fast_axolotl.errors.DataFormatError`
naming the file and the position) is raised as itself, not as Ray's wrapper.
"""

from __future__ import annotations

from ._dedup import deduplicate, digests
from ._pack import pack, pack_bins
from ._source import FastAxolotlDatasource, read

__all__ = ["read", "deduplicate", "digests", "pack", "pack_bins", "FastAxolotlDatasource"]
