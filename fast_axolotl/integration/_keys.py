"""The plugin's YAML keys that are other names of Axolotl's (no pydantic here: the plugin
applies them to the raw config in ``register``, before Axolotl validates it)."""

from __future__ import annotations

from typing import Any


def apply_aliases(data: Any) -> Any:
    """``dedupe`` -> ``dataset_exact_deduplication`` (in place on a dict-like config).

    Both set to different values is an error: one of them would be silently ignored."""
    if not hasattr(data, "get"):
        return data
    dedupe = data.get("dedupe")
    if dedupe is None:
        return data
    exact = data.get("dataset_exact_deduplication")
    if exact is not None and bool(exact) != bool(dedupe):
        raise ValueError(
            f"dedupe: {dedupe} contradicts dataset_exact_deduplication: {exact} (dedupe is fast-axolotl 0.2.0's "
            "name of dataset_exact_deduplication; set one of them)"
        )
    data["dataset_exact_deduplication"] = bool(dedupe)
    return data
