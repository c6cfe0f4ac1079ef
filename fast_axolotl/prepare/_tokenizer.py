"""Bulk tokenization with the user's own tokenizer, checked against its ``__call__``.

Axolotl calls ``tokenizer(text, truncation=True, max_length=L, padding=False)`` once per
text. A transformers fast tokenizer does that with its Rust ``backend_tokenizer``:
truncation ``longest_first`` to ``L`` on the tokenizer's ``truncation_side``, no padding,
special tokens added. We run the same backend (a copy, so the user's object keeps its
settings) with ``encode_batch`` over thousands of texts per call: the work runs in
Rust threads, without the GIL.

"The same ids" is not assumed: the first texts of every call and a spread of others are
also tokenized through ``tokenizer.__call__``; one difference makes the whole config
unsupported (:class:`~fast_axolotl.errors.UnsupportedConfigError` on ``tokenizer``), so
Axolotl prepares it instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import UnsupportedConfigError
from ._ragged import Ragged, concat

#: Texts per ``encode_batch`` call: bounds the memory of the Encoding objects.
BATCH_TEXTS = 8_192
#: Texts of each call compared with ``tokenizer.__call__``.
CHECKED_FIRST = 8
CHECKED_SPREAD = 8


def _sample(count: int) -> list[int]:
    """The indices checked against ``tokenizer.__call__``: the first few and a spread."""
    if not count:
        return []
    picked = set(range(min(count, CHECKED_FIRST)))
    picked.update(int(k) for k in np.linspace(0, count - 1, CHECKED_SPREAD))
    return sorted(picked)


def _distinct(texts: Sequence[str | None], skip_empty: bool) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The distinct texts in first-seen order, and for each text its slot among them
    (with ``skip_empty``, -1 for ``None`` / ``""``, which are not among them)."""
    slots: dict[str, int] = {}
    unique: list[str] = []
    index = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        if skip_empty and not text:
            index[i] = -1
            continue
        slot = slots.get(text)  # type: ignore[arg-type]
        if slot is None:
            slot = slots[text] = len(unique)  # type: ignore[index]
            unique.append(text)  # type: ignore[arg-type]
        index[i] = slot
    return unique, index


class BulkTokenizer:
    def __init__(self, tokenizer: Any) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None or not hasattr(backend, "to_str"):
            raise UnsupportedConfigError("tokenizer", f"{type(tokenizer).__name__} is not a fast (Rust) tokenizer")
        probe = tokenizer("fast axolotl", truncation=True, max_length=8, padding=False)
        if set(probe.keys()) != {"input_ids", "attention_mask"}:
            raise UnsupportedConfigError(
                "tokenizer", f"it returns {sorted(probe.keys())}, not input_ids/attention_mask"
            )
        if tokenizer.eos_token_id is None:
            raise UnsupportedConfigError("tokenizer", "it has no eos_token_id (Axolotl would append None)")
        self.hf = tokenizer
        self.eos_token_id = int(tokenizer.eos_token_id)
        self.bos_token_id = None if tokenizer.bos_token_id is None else int(tokenizer.bos_token_id)
        self._serialized = backend.to_str()
        self._split_special = bool(getattr(backend, "encode_special_tokens", False))
        self._direction = getattr(tokenizer, "truncation_side", "right") or "right"
        self._encoders: dict[int | None, Any] = {}

    def _encoder(self, max_length: int | None) -> Any:
        """The backend with ``tokenizer.__call__``'s settings: truncation to ``max_length``
        (None: no truncation), no padding."""
        encoder = self._encoders.get(max_length)
        if encoder is None:
            from tokenizers import Tokenizer

            encoder = Tokenizer.from_str(self._serialized)
            encoder.no_padding()
            if max_length is None:
                encoder.no_truncation()
            else:
                encoder.enable_truncation(max_length, stride=0, strategy="longest_first", direction=self._direction)
            encoder.encode_special_tokens = self._split_special
            self._encoders[max_length] = encoder
        return encoder

    def encode(
        self,
        texts: Sequence[str | None],
        max_length: int,
        progress: Callable[[int], None] | None = None,
    ) -> Ragged:
        """One row of ids per text; ``None`` and ``""`` give an empty row without a
        tokenizer call (Axolotl's ``_tokenize`` returns early for them). Each distinct
        text is tokenized once (duplicated rows, repeated outputs)."""
        encoder = self._encoder(max_length)
        # encode_batch_fast skips the offsets, which nothing here reads (tokenizers >= 0.21)
        encode_batch = getattr(encoder, "encode_batch_fast", encoder.encode_batch)
        unique, index = _distinct(texts, skip_empty=True)
        parts = []
        for start in range(0, len(unique), BATCH_TEXTS):
            batch = unique[start : start + BATCH_TEXTS]
            rows = [encoding.ids for encoding in encode_batch(batch, add_special_tokens=True)]
            self._check(batch, rows, max_length)
            parts.append(Ragged.from_lists(rows))
            if progress is not None:
                progress(len(batch))
        if progress is not None:
            progress(len(texts) - len(unique))
        parts.append(Ragged(np.empty(0, dtype=np.int64), np.zeros(2, dtype=np.int64)))  # the empty row
        index[index < 0] = len(unique)
        return concat(parts).take(index)

    def eot_token_ids(self) -> list[int]:
        """``ChatTemplateStrategy._eot_token_ids`` for the default ``eot_tokens``
        (``[eos_token]``): its ids without special tokens, if it is one token."""
        ids = self.hf.encode(self.hf.eos_token, add_special_tokens=False)
        return [int(ids[0])] if len(ids) == 1 else []

    def encode_for_offsets(self, texts: Sequence[str]) -> tuple[Ragged, list[Any]]:
        """``tokenizer(text, add_special_tokens=False)`` for every text (no truncation):
        the ids, and each text's ``Encoding`` (whose ``token_to_chars`` gives the offsets
        ``return_offsets_mapping=True`` would). Each distinct text is tokenized once."""
        encoder = self._encoder(None)
        unique, index = _distinct(texts, skip_empty=False)
        encodings: list[Any] = []
        for first in range(0, len(unique), BATCH_TEXTS):
            batch = unique[first : first + BATCH_TEXTS]
            encoded = encoder.encode_batch(batch, add_special_tokens=False)
            self._check_offsets(batch, encoded)
            encodings.extend(encoded)
        ids = Ragged.from_lists([encoding.ids for encoding in encodings])
        return ids.take(index), [encodings[slot] for slot in index]

    def _check_offsets(self, texts: Sequence[str], encodings: list[Any]) -> None:
        for i in _sample(len(texts)):
            want = self.hf(texts[i], add_special_tokens=False, return_offsets_mapping=True)
            got = encodings[i]
            chars = [got.token_to_chars(t) for t in range(len(got.ids))]
            if list(want["input_ids"]) != got.ids or [tuple(o) for o in want["offset_mapping"]] != chars:
                raise UnsupportedConfigError(
                    "tokenizer",
                    f"its backend's encode_batch differs from tokenizer(...) on text {texts[i][:60]!r}",
                )

    def _check(self, texts: Sequence[str], rows: list[list[int]], max_length: int) -> None:
        for i in _sample(len(texts)):
            want = self.hf(texts[i], truncation=True, max_length=max_length, padding=False)
            if list(want["input_ids"]) != rows[i] or any(v != 1 for v in want["attention_mask"]):
                raise UnsupportedConfigError(
                    "tokenizer",
                    f"its backend's encode_batch differs from tokenizer(...) on text {str(texts[i])[:60]!r}",
                )
