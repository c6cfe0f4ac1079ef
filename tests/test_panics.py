"""A panic that escapes native code becomes InternalError (never an abort of the interpreter).

``_native._raise_panic_for_tests`` is a test hook, not API: it panics on purpose inside the
boundary that every entry point uses (``errors::detached`` in the binding)."""

from __future__ import annotations

import pytest
from conftest import needs_native

import fast_axolotl as fa
from fast_axolotl import _backend
from fast_axolotl.errors import InternalError


@needs_native
@pytest.mark.parametrize(
    "kind, message",
    [
        ("explicit", "deliberate panic for tests"),
        # Panics only because the release profile keeps `overflow-checks = true`:
        # a wrapped integer here would be silent corruption.
        ("overflow", "overflow"),
        ("pool", "deliberate panic in a pool worker"),
    ],
)
def test_panic_becomes_internal_error(kind: str, message: str) -> None:
    native = _backend.native_module()
    assert native is not None
    with pytest.raises(InternalError, match=message) as info:
        native._raise_panic_for_tests(kind)
    assert isinstance(info.value, RuntimeError) and "please report it" in str(info.value)
    # The interpreter and the pool are intact: the next calls work.
    assert fa.parallel_hash_rows(["a", "b"]) == fa.parallel_hash_rows(["a", "b"], num_threads=1)
    assert fa.pack_bins([3, 2, 1] * 30_000, 4, num_threads=2)  # uses the pool
