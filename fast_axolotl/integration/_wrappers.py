"""The replacements. Each takes the fast path only for inputs it is known to handle
exactly like Axolotl, and otherwise (or on any error of ours) calls the original."""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ..hashing import _is_hf_dataset, deduplicate
from ..packing import lengths_from, pack_bins
from ..padding import collate
from ._core import Target

LOG = logging.getLogger("fast_axolotl.integration")

_WRAPS = ("__module__", "__name__", "__qualname__", "__doc__")
_F = TypeVar("_F", bound=Callable[..., Any])


def _wraps(original: Any) -> Callable[[_F], _F]:
    """functools.wraps without copying ``__dict__`` (a numba dispatcher's is large)."""

    def decorate(func: _F) -> _F:
        functools.update_wrapper(func, original, assigned=_WRAPS, updated=())
        return func

    return decorate


def _fallback(where: str, exc: BaseException) -> None:
    LOG.debug("fast-axolotl: %s falls back to Axolotl's code (%s: %s)", where, type(exc).__name__, exc)


# --- dedup --------------------------------------------------------------------------

# seen-set (by identity) -> datasets whose rows it holds, so that a later fallback to
# Axolotl's code can rebuild the equivalent set of hex strings (exact cross-dedup).
_SOURCES: OrderedDict[int, tuple[set[Any], list[Any]]] = OrderedDict()
_MAX_SOURCES = 8


def _remember(seen: set[Any], dataset: Any) -> None:
    entry = _SOURCES.pop(id(seen), None)
    datasets = entry[1] if entry is not None and entry[0] is seen else []
    _SOURCES[id(seen)] = (seen, [*datasets, dataset])
    while len(_SOURCES) > _MAX_SOURCES:
        _SOURCES.popitem(last=False)


def _is_digest_set(seen: Any) -> bool:
    return isinstance(seen, set) and all(type(d) is bytes and len(d) == 32 for d in seen)


def make_dedup(original: Any) -> Any:
    @_wraps(original)
    def _deduplicate_dataset(dataset: Any, seen_hashes: Any = None) -> Any:
        ours = seen_hashes is None or _is_digest_set(seen_hashes)
        if ours and _is_hf_dataset(dataset):
            try:
                result = deduplicate(dataset, seen_hashes)
            except Exception as exc:  # UnsupportedTypeError and anything unexpected
                _fallback("_deduplicate_dataset", exc)
            else:
                _remember(result[1], dataset)
                return result
        if seen_hashes and _is_digest_set(seen_hashes):
            entry = _SOURCES.get(id(seen_hashes))
            if entry is not None and entry[0] is seen_hashes:
                hexes: set[str] = set()
                for source in entry[1]:
                    original(source, hexes)
                return original(dataset, hexes)
        return original(dataset, seen_hashes)

    return _deduplicate_dataset


# --- bins ---------------------------------------------------------------------------


def _int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _lengths_ok(lengths: Any) -> bool:
    return isinstance(lengths, np.ndarray) and lengths.ndim == 1 and lengths.dtype.kind in "iu"


def make_pack_parallel(original: Any) -> Any:
    @_wraps(original)
    def pack_parallel(
        sequence_lengths: Any,
        bin_capacity: Any,
        group_size: Any,
        bin_size: Any,
        num_processes: Any = None,
        safe_mode: Any = True,
        mp_start_method: Any = "fork",
    ) -> Any:
        if _lengths_ok(sequence_lengths) and _int(bin_capacity) and _int(group_size) and _int(bin_size):
            try:
                return pack_bins(
                    sequence_lengths, int(bin_capacity), bin_size=int(bin_size), group_size=int(group_size)
                )
            except Exception as exc:
                _fallback("pack_parallel", exc)
        return original(sequence_lengths, bin_capacity, group_size, bin_size, num_processes, safe_mode, mp_start_method)

    return pack_parallel


def make_allocate_sequentially(original: Any) -> Any:
    @_wraps(original)
    def allocate_sequentially(sequence_lengths: Any, rank: Any, bin_capacity: Any, num_ranks: Any) -> Any:
        if (
            _lengths_ok(sequence_lengths)
            and _int(rank)
            and _int(bin_capacity)
            and _int(num_ranks)
            and int(num_ranks) > 0
        ):
            try:
                bins = pack_bins(sequence_lengths, int(bin_capacity), sequential=True)
            except Exception as exc:
                _fallback("allocate_sequentially", exc)
            else:
                total_used = int(np.asarray(sequence_lengths, dtype=np.int64).sum())
                return bins[int(rank) :: int(num_ranks)], total_used, len(bins) * int(bin_capacity)
        return original(sequence_lengths, rank, bin_capacity, num_ranks)

    return allocate_sequentially


# --- lengths ------------------------------------------------------------------------


def make_get_dataset_lengths(original: Any) -> Any:
    @_wraps(original)
    def get_dataset_lengths(dataset: Any, from_arrow: Any = False) -> Any:
        if _is_hf_dataset(dataset) and isinstance(from_arrow, bool):
            try:
                names = dataset.column_names
                if "length" in names:
                    table = dataset.data.table if hasattr(dataset.data, "table") else dataset.data
                    # np.array(dataset["length"]) is int64 only for an int64 column.
                    if table.schema.field("length").type != "int64":
                        raise TypeError(f"length column is {table.schema.field('length').type}")
                return lengths_from(dataset, from_arrow=from_arrow)
            except Exception as exc:
                _fallback("get_dataset_lengths", exc)
        return original(dataset, from_arrow)

    return get_dataset_lengths


# --- collators ----------------------------------------------------------------------

_PLAIN_KEYS = frozenset({"input_ids", "attention_mask", "labels", "position_ids"})


def _value_ok(value: Any) -> bool:
    if isinstance(value, list):
        return not value or type(value[0]) is int
    return isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype == np.int64


def _row_ok(item: Any, keys: frozenset[str]) -> bool:
    if not isinstance(item, dict):
        return False
    names = item.keys() - {"length"}
    if names != keys:
        return False
    kinds = set()
    for name in names:
        value = item[name]
        if not _value_ok(value):
            return False
        kinds.add(type(value))
    if len(kinds) > 1:  # tokenizer.pad converts by the type of input_ids only
        return False
    ids = item["input_ids"]
    return len(ids) > 0 and ("attention_mask" not in names or len(item["attention_mask"]) == len(ids))


def _plain_settings(collator: Any, return_tensors: Any) -> dict[str, Any] | None:
    """Collator settings for which Axolotl's code reduces to ``fast_axolotl.collate``."""
    tensors = getattr(collator, "return_tensors", None) if return_tensors is None else return_tensors
    if not isinstance(tensors, str) or tensors not in ("np", "pt"):
        return None
    model = getattr(collator, "model", None)
    if model is not None and hasattr(model, "prepare_decoder_input_ids_from_labels"):
        return None
    if getattr(collator, "cp_shard", None) is not None or getattr(collator, "emit_fa_varlen_kwargs", False):
        return None
    if getattr(collator, "squash_position_ids", False):
        return None
    padding = getattr(collator, "padding", True)
    if not (padding is True or (isinstance(padding, str) and padding == "longest")):
        return None
    if getattr(collator, "max_length", None) is not None:
        return None
    tokenizer = getattr(collator, "tokenizer", None)
    pad_id = getattr(tokenizer, "pad_token_id", None)
    side = getattr(tokenizer, "padding_side", None)
    names = list(getattr(tokenizer, "model_input_names", None) or ())
    if type(pad_id) is not int or side not in ("left", "right"):
        return None
    if not names or names[0] != "input_ids" or "attention_mask" not in names:
        return None
    label_pad = getattr(collator, "label_pad_token_id", -100)
    multiple = getattr(collator, "pad_to_multiple_of", None)
    if type(label_pad) is not int or not (multiple is None or (type(multiple) is int and multiple >= 1)):
        return None
    return {
        "pad_token_id": pad_id,
        "label_pad_token_id": label_pad,
        "padding_side": side,
        "pad_to_multiple_of": multiple,
        "tensors": str(tensors),
    }


def _features_ok(features: Any, multipack: str | None) -> bool:
    if not isinstance(features, list) or not features:
        return False
    if multipack is None:
        first = features[0]
        if not isinstance(first, dict) or "length" in first:
            return False
        keys = frozenset(first)
        return "input_ids" in keys and keys <= _PLAIN_KEYS and all(_row_ok(f, keys) for f in features)
    bins = features if isinstance(features[0], list) else [features]
    if not all(isinstance(b, list) and b and isinstance(b[0], dict) for b in bins):
        return False
    keys = frozenset(bins[0][0].keys() - {"length"})
    if "input_ids" not in keys or not keys <= _PLAIN_KEYS:
        return False
    return all(_row_ok(item, keys) for b in bins for item in b)


def fast_collate(collator: Any, features: Any, return_tensors: Any, multipack: str | None) -> Any:
    """The collator's result computed by ``fast_axolotl.collate``, or None (use Axolotl's)."""
    settings = _plain_settings(collator, return_tensors)
    if settings is None or not _features_ok(features, multipack):
        return None
    try:
        from transformers import BatchEncoding

        out = collate(
            features,
            pad_token_id=settings["pad_token_id"],
            label_pad_token_id=settings["label_pad_token_id"],
            padding_side=settings["padding_side"],
            pad_to_multiple_of=settings["pad_to_multiple_of"],
            multipack=multipack,  # type: ignore[arg-type]
            return_tensors="np",
        )
        if settings["tensors"] == "pt":
            import torch

            out = {key: torch.from_numpy(value) for key, value in out.items()}
        return BatchEncoding(out)
    except Exception as exc:
        _fallback(f"{type(collator).__name__}.__call__", exc)
        return None


def make_collator_call(multipack: str | None) -> Any:
    def make(original: Any) -> Any:
        @_wraps(original)
        def __call__(self: Any, features: Any, return_tensors: Any = None) -> Any:
            result = fast_collate(self, features, return_tensors, multipack)
            if result is not None:
                return result
            return original(self, features, return_tensors=return_tensors)

        return __call__

    return make


_DEDUP = "axolotl.utils.data.utils"
_MULTIPACK = "axolotl.utils.samplers.multipack"
_LENGTHS = "axolotl.utils.samplers.utils"
_BATCHING = "axolotl.utils.collators.batching"
_CALL = ("self", "features", "return_tensors")

TARGETS = [
    Target("dedup", _DEDUP, None, "_deduplicate_dataset", ("dataset", "seen_hashes"), make_dedup),
    Target(
        "bins",
        _MULTIPACK,
        None,
        "pack_parallel",
        (
            "sequence_lengths",
            "bin_capacity",
            "group_size",
            "bin_size",
            "num_processes",
            "safe_mode",
            "mp_start_method",
        ),
        make_pack_parallel,
    ),
    Target(
        "bins",
        _MULTIPACK,
        None,
        "allocate_sequentially",
        ("sequence_lengths", "rank", "bin_capacity", "num_ranks"),
        make_allocate_sequentially,
    ),
    Target("lengths", _LENGTHS, None, "get_dataset_lengths", ("dataset", "from_arrow"), make_get_dataset_lengths),
    Target("collators", _BATCHING, "DataCollatorForSeq2Seq", "__call__", _CALL, make_collator_call(None)),
    Target(
        "collators",
        _BATCHING,
        "BatchSamplerDataCollatorForSeq2Seq",
        "__call__",
        _CALL,
        make_collator_call("batch_sampler"),
    ),
    Target(
        "collators",
        _BATCHING,
        "V2BatchSamplerDataCollatorForSeq2Seq",
        "__call__",
        _CALL,
        make_collator_call("v2"),
    ),
]
