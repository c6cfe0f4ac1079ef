"""Compatibility with the earlier package of the same name, fast-axolotl 0.2.0.

Users of 0.2.0 upgrade onto this package with ``pip install -U``; every public name of
0.2.0 keeps working. This module holds what only exists for them: the 0.2.0 install /
uninstall return values, ``RustStreamingDataset`` (now a real lazy dataset over
:func:`fast_axolotl.read_batches`), ``should_use_rust_streaming`` and the helper that
accepts 0.2.0's keyword names as aliases. What changed on purpose, and why:
``docs/migrating-from-0.2.md``.

Nothing here imports the rest of the package at import time (``reading`` and ``packing``
import the alias helper from here); the readers are imported when first used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, overload

from .errors import ArgumentTypeError, InvalidArgumentError

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

__all__ = [
    "UNSET",
    "renamed",
    "install",
    "uninstall",
    "RustStreamingDataset",
    "create_rust_streaming_dataset",
    "should_use_rust_streaming",
]


class _Unset:
    """The default of a parameter that has a 0.2.0 alias: "not passed"."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unset>"

    def __reduce__(self) -> str:
        return "UNSET"


#: Sentinel default of a parameter that may also be passed under its 0.2.0 name.
UNSET: Final[Any] = _Unset()


def renamed(func: str, name: str, value: Any, old_name: str, old_value: Any) -> Any:
    """The value of parameter ``name`` of ``func``, which 0.2.0 called ``old_name``.

    Exactly one of the two must be given: both is an :class:`ArgumentTypeError` (a
    ``TypeError``) naming both, neither is the ``TypeError`` Python raises for a missing
    required argument."""
    if old_value is UNSET:
        if value is UNSET:
            raise ArgumentTypeError(f"{func}() missing 1 required argument: {name!r}")
        return value
    if value is not UNSET:
        raise ArgumentTypeError(
            f"{func}() got both {name!r} and {old_name!r} (the fast-axolotl 0.2.0 name of {name!r}); pass only {name!r}"
        )
    return old_value


def required(func: str, name: str, value: Any) -> Any:
    """``value``, or the ``TypeError`` of a missing required argument when it is :data:`UNSET`."""
    if value is UNSET:
        raise ArgumentTypeError(f"{func}() missing 1 required argument: {name!r}")
    return value


# ---------------------------------------------------------------------------
# install() / uninstall(): the Axolotl integration, with 0.2.0's return values


def install() -> bool:
    """Install the Axolotl integration (:func:`fast_axolotl.integration.install`).

    As in 0.2.0: True if this call installed it, False if it was already installed
    (``import fast_axolotl`` installs it) or could not be (``FAST_AXOLOTL_DISABLE=1``)."""
    from .integration import _core

    with _core._STATE.lock:
        if _core.is_installed():
            return False
        return _core.install()


def uninstall() -> bool:
    """Remove the Axolotl integration; True if it was installed, False if not (as 0.2.0)."""
    from .integration import _core

    return _core.uninstall()


# ---------------------------------------------------------------------------
# RustStreamingDataset


def _check_path(path: Any, what: str) -> Any:
    if isinstance(path, (str, bytes, os.PathLike)):
        if not os.fsdecode(os.fspath(path)):
            raise InvalidArgumentError(f"{what} is empty")
    elif isinstance(path, (list, tuple)):
        if not path:
            raise InvalidArgumentError(f"{what} is an empty list")
        for entry in path:
            _check_path(entry, what)
    else:
        raise ArgumentTypeError(f"{what} must be a str, os.PathLike or a list of them, got {type(path).__name__}")
    return path


def _format_of(dataset_type: Any) -> str:
    if dataset_type is None:
        return "auto"
    if not isinstance(dataset_type, str):
        raise ArgumentTypeError(f"dataset_type must be a str or None, got {type(dataset_type).__name__}")
    return dataset_type or "auto"


class RustStreamingDataset:
    """The 0.2.0 streaming dataset, now lazy with bounded memory: iterating reads the file
    with :func:`fast_axolotl.read_batches` and yields each batch as a ``{column: list}``
    dict (exactly ``batch_size`` rows; the last may be shorter), as
    :func:`fast_axolotl.streaming_dataset_reader` does.

    ``file_path`` is anything :func:`fast_axolotl.read_batches` reads (a file, a directory
    of shards, a ``save_to_disk`` directory, a glob or a list of these). ``dataset_type``
    is a format (``"parquet"``, ``"jsonl.zst"``...); ``""``, ``None`` or ``"auto"`` detect
    it. ``dataset_keep_in_memory`` is stored (0.2.0 stored it too) and changes nothing.
    The arguments are checked now (an empty path is an :class:`InvalidArgumentError`);
    the file is opened when the dataset is iterated (or its schema asked for).
    ``to_iterable_dataset()`` gives a Hugging Face ``datasets.IterableDataset`` of rows.
    """

    def __init__(
        self,
        file_path: Any,
        dataset_type: str | None = None,
        batch_size: int = 1000,
        num_threads: int = 4,
        dataset_keep_in_memory: bool = False,
        *,
        columns: Sequence[str] | None = None,
    ) -> None:
        from ._inputs import check_int
        from .reading import _check_columns, _parse_format

        self.file_path = _check_path(file_path, "file_path")
        self.dataset_type = dataset_type
        self._format = _format_of(dataset_type)
        _parse_format(self._format)
        size = check_int("batch_size", batch_size, minimum=1)
        threads = check_int("num_threads", num_threads, minimum=0)
        self.batch_size = size
        self.num_threads = threads
        self.dataset_keep_in_memory = bool(dataset_keep_in_memory)
        self._columns = _check_columns(columns)
        #: The ``type`` given to :meth:`with_format` (recorded; the batches stay dicts of lists).
        self.format: str | None = None

    def __repr__(self) -> str:
        return (
            f"RustStreamingDataset(file_path={self.file_path!r}, dataset_type={self.dataset_type!r}, "
            f"batch_size={self.batch_size}, num_threads={self.num_threads})"
        )

    def _reader(self, batch_size: int | None = None) -> Any:
        from .reading import read_batches

        return read_batches(
            self.file_path,
            format=self._format,
            batch_size=self.batch_size if batch_size is None else batch_size,
            columns=self._columns,
            num_threads=self.num_threads,
        )

    def __iter__(self) -> Iterator[dict[str, list[Any]]]:
        for batch in self._reader():
            yield batch.to_pydict()

    def iter(self, batch_size: int, drop_last_batch: bool = False) -> Iterator[dict[str, list[Any]]]:
        """Batches of ``batch_size`` rows as ``{column: list}`` dicts (``datasets.Dataset.iter``)."""
        from ._inputs import check_int

        size = check_int("batch_size", batch_size, minimum=1)
        for batch in self._reader(size):
            if drop_last_batch and batch.num_rows < size:
                return
            yield batch.to_pydict()

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the batches (opens the input)."""
        return self._reader().schema

    @property
    def column_names(self) -> list[str]:
        """The column names, in file order (or ``columns=`` order)."""
        return list(self.schema.names)

    @property
    def features(self) -> datasets.Features:
        """``datasets.Features`` of the rows (needs the ``datasets`` package)."""
        import datasets

        return datasets.Features.from_arrow_schema(self.schema)

    def with_format(
        self,
        type: str | None = None,
        columns: Sequence[str] | None = None,
        output_all_columns: bool = False,
        *,
        format: Any = UNSET,
        **format_kwargs: Any,
    ) -> RustStreamingDataset:
        """A dataset over the same input (0.2.0 returned the dataset itself, unchanged).

        ``columns`` selects the columns read; ``type`` (0.2.0 called it ``format``) is
        recorded in ``.format`` but the batches stay ``{column: list}`` dicts, as in
        0.2.0: for torch / numpy / arrow rows use
        ``to_iterable_dataset().with_format(type)``."""
        if format is not UNSET:
            type = renamed("with_format", "type", UNSET if type is None else type, "format", format)
        clone = RustStreamingDataset(
            self.file_path,
            self.dataset_type,
            self.batch_size,
            self.num_threads,
            self.dataset_keep_in_memory,
            columns=self._columns if columns is None else columns,
        )
        clone.format = type
        return clone

    def to_iterable_dataset(self) -> datasets.IterableDataset:
        """A Hugging Face ``datasets.IterableDataset`` of the rows
        (:func:`fast_axolotl.iterable_dataset`; needs ``datasets``)."""
        from .iterable import iterable_dataset

        return iterable_dataset(
            self.file_path,
            format=self._format,
            columns=self._columns,
            batch_size=self.batch_size,
            num_threads=self.num_threads,
        )


def create_rust_streaming_dataset(
    file_path: Any,
    dataset_type: str | None = None,
    batch_size: int = 1000,
    num_threads: int = 4,
    dataset_keep_in_memory: bool = False,
) -> RustStreamingDataset:
    """``RustStreamingDataset(...)`` with the same arguments (the 0.2.0 factory)."""
    return RustStreamingDataset(file_path, dataset_type, batch_size, num_threads, dataset_keep_in_memory)


# ---------------------------------------------------------------------------
# should_use_rust_streaming

#: The automatic rule's thresholds (0.2.0's documentation): files larger than 1 GiB, or
#: ``sequence_len`` above 10000.
SIZE_THRESHOLD: Final = 1024**3
SEQUENCE_LEN_THRESHOLD: Final = 10000


def _setting(cfg: Any, key: str) -> Any:
    """``cfg[key]`` of a dict, an Axolotl ``DictDefault`` or an object with attributes; None if unset."""
    if cfg is None:
        return None
    if isinstance(cfg, Mapping) or callable(getattr(cfg, "get", None)):
        return cfg.get(key)
    return getattr(cfg, key, None)


def _size_of(path: Any) -> int | None:
    """Bytes of a file, or of all files under a directory; None when unknown (unreadable)."""
    try:
        p = os.fspath(path)
        if os.path.isdir(p):
            total = 0
            for root, _dirs, files in os.walk(p, onerror=_raise):
                for name in files:
                    total += os.path.getsize(os.path.join(root, name))
            return total
        return os.path.getsize(p)
    except (OSError, TypeError, ValueError):
        return None


def _raise(exc: OSError) -> None:
    raise exc


@overload
def should_use_rust_streaming(
    path_or_cfg: str | os.PathLike[str],
    dataset_config: Any = None,
    cfg: Any = None,
    *,
    file_size_bytes: int | None = None,
) -> bool: ...
@overload
def should_use_rust_streaming(path_or_cfg: Any, /, *, file_size_bytes: int | None = None) -> bool: ...
@overload
def should_use_rust_streaming(
    *,
    file_path: str | os.PathLike[str],
    dataset_config: Any = None,
    cfg: Any = None,
    file_size_bytes: int | None = None,
) -> bool: ...
@overload
def should_use_rust_streaming(*, cfg: Any, file_size_bytes: int | None = None) -> bool: ...
def should_use_rust_streaming(
    path_or_cfg: Any = UNSET,
    dataset_config: Any = None,
    cfg: Any = None,
    *,
    file_size_bytes: int | None = None,
    file_path: Any = UNSET,
) -> bool:
    """Whether fast-axolotl's reader should load a dataset, by the Axolotl config.

    Two call shapes, as in 0.2.0's code and its documentation:
    ``should_use_rust_streaming(file_path, dataset_config, cfg)`` and
    ``should_use_rust_streaming(cfg, file_size_bytes=None)`` (``file_path=`` and
    ``cfg=`` may be passed by keyword). ``cfg`` is a dict, an Axolotl ``DictDefault``
    or an object with attributes; ``dataset_config`` is unused.

    The rule: ``dataset_use_rust_streaming: false`` -> False; ``dataset_keep_in_memory``
    set -> False; ``dataset_use_rust_streaming: true`` -> True; unset -> True when the
    data are larger than 1 GiB (``file_size_bytes``, else the file's size or the sum over
    a directory's files; an unreadable path counts as size unknown, which is not large)
    or ``sequence_len`` > 10000.
    """
    path: Any = None
    if file_path is not UNSET:
        path = renamed("should_use_rust_streaming", "path_or_cfg", path_or_cfg, "file_path", file_path)
        if not isinstance(path, (str, bytes, os.PathLike)):
            raise ArgumentTypeError(f"file_path must be a str or os.PathLike, got {type(path).__name__}")
    elif path_or_cfg is UNSET:
        if cfg is None:
            raise ArgumentTypeError(
                "should_use_rust_streaming() needs a config: (file_path, dataset_config, cfg) or (cfg)"
            )
    elif isinstance(path_or_cfg, (str, bytes, os.PathLike)):
        path = path_or_cfg
    else:
        if cfg is not None:
            raise ArgumentTypeError(
                "should_use_rust_streaming(cfg, file_size_bytes=None) or (file_path, dataset_config, cfg): "
                f"the first argument is a {type(path_or_cfg).__name__}, not a path, and cfg is given too"
            )
        cfg = path_or_cfg
        if dataset_config is not None:  # should_use_rust_streaming(cfg, 2 * 1024**3)
            if file_size_bytes is not None:
                raise ArgumentTypeError("should_use_rust_streaming() got file_size_bytes twice")
            file_size_bytes = dataset_config
    if file_size_bytes is not None and (isinstance(file_size_bytes, bool) or not isinstance(file_size_bytes, int)):
        raise ArgumentTypeError(f"file_size_bytes must be an int or None, got {type(file_size_bytes).__name__}")

    flag = _setting(cfg, "dataset_use_rust_streaming")
    if flag is not None and not flag:
        return False
    if _setting(cfg, "dataset_keep_in_memory"):
        return False
    if flag is not None:
        return True
    size = file_size_bytes if file_size_bytes is not None else (_size_of(path) if path is not None else None)
    if size is not None and size > SIZE_THRESHOLD:
        return True
    sequence_len = _setting(cfg, "sequence_len")
    try:
        return sequence_len is not None and int(sequence_len) > SEQUENCE_LEN_THRESHOLD
    except (TypeError, ValueError):
        return False
