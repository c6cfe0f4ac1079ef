"""Exceptions raised by fast-axolotl, from either backend.

Every class subclasses :class:`FastAxolotlError` and the builtin a caller would
already catch (``ValueError``, ``TypeError``, ``OSError``...), so code written
against pyarrow, ``datasets`` or Axolotl keeps working. The native extension
raises these same classes (it imports them from this module).
"""

from __future__ import annotations

__all__ = [
    "FastAxolotlError",
    "InvalidArgumentError",
    "ArgumentTypeError",
    "SequenceTooLongError",
    "UnsupportedTypeError",
    "UnsupportedFormatError",
    "DataFormatError",
    "SchemaMismatchError",
    "DatasetNotFoundError",
    "DatasetReadError",
    "NativeBackendError",
    "InternalError",
    "UnsupportedConfigError",
]


class FastAxolotlError(Exception):
    """Base class of every error fast-axolotl raises on purpose."""


class InvalidArgumentError(FastAxolotlError, ValueError):
    """An argument has the right type but a value the operation cannot accept."""


class ArgumentTypeError(FastAxolotlError, TypeError):
    """An argument (or an element inside it) has a type the operation cannot accept."""


class SequenceTooLongError(InvalidArgumentError):
    """A sequence is longer than the operation allows (``overflow="error"``, or padding below its length)."""


class UnsupportedTypeError(FastAxolotlError, TypeError):
    """An Arrow column type the operation does not handle."""


class UnsupportedFormatError(FastAxolotlError, ValueError):
    """A file format or compression that cannot be detected or is not supported."""


class _Located:
    """Mixin: the file and the position (row, line or byte offset) an error refers to."""

    path: str | None
    position: str | None

    def __init__(self, message: str, path: str | None = None, position: str | None = None) -> None:
        super().__init__(message)  # type: ignore[call-arg]
        self.path = path
        self.position = position


class DataFormatError(_Located, FastAxolotlError, ValueError):
    """A file's content is malformed: corrupt, truncated, bad compression frame, unparsable line."""


class SchemaMismatchError(DataFormatError):
    """A row's value does not fit the column type inferred from earlier rows."""


class DatasetNotFoundError(_Located, FastAxolotlError, FileNotFoundError):
    """The path (or glob) names no file."""


class DatasetReadError(_Located, FastAxolotlError, OSError):
    """The operating system refused or failed a read (permissions, a directory, I/O error)."""


class NativeBackendError(FastAxolotlError, ImportError):
    """``FAST_AXOLOTL_IMPL=native`` was requested but the extension cannot be used."""


class InternalError(FastAxolotlError, RuntimeError):
    """A bug in fast-axolotl (a native panic caught at the boundary). Please report it."""


class UnsupportedConfigError(FastAxolotlError, ValueError):
    """An Axolotl config holds a key (or value) fast-axolotl's preparation cannot reproduce exactly.

    ``key`` names it (``datasets[1].type``, ``rl``, ``tokenizer``...). The plugin then leaves the
    whole preparation to Axolotl; ``fast-axolotl prepare CONFIG.yml`` exits with status 2."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason
