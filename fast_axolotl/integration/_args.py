"""The YAML keys of the plugin, merged into Axolotl's config schema.

Axolotl asks each plugin for ``get_input_args()``, a dotted path to a pydantic model,
and validates the config with a class that inherits from its own schema and these
models (``axolotl.integrations.config.merge_input_args``). Without that, pydantic
drops unknown keys, so ``dataset_use_rust_streaming`` never reached anyone.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator

from ._keys import apply_aliases


class FastAxolotlArgs(BaseModel):
    """Keys of ``plugins: [fast_axolotl.integration.FastAxolotlPlugin]``."""

    dataset_use_rust_streaming: bool | None = Field(
        default=None,
        description=(
            "Read local dataset files (Parquet, Arrow, JSON/JSONL, text; gz/zst) with fast-axolotl's reader: "
            "true = every such file, unset = files over 1 GiB or sequence_len over 10000 (fast-axolotl 0.2.0's "
            "rule), false = never. A file whose columns datasets would type differently is left to Axolotl."
        ),
    )
    dedupe: bool | None = Field(
        default=None,
        description="fast-axolotl 0.2.0's name of dataset_exact_deduplication (the same switch).",
    )
    fast_axolotl_prepare: bool | None = Field(
        default=None,
        description=(
            "Prepare the datasets with fast-axolotl's pipeline when the config is one it reproduces exactly "
            "(unset or true); false leaves all of the preparation to Axolotl."
        ),
    )
    fast_axolotl_patches: list[str] | None = Field(
        default=None,
        description="Which fast-axolotl patch groups to install (default: all; see fast_axolotl.integration).",
    )

    @model_validator(mode="before")
    @classmethod
    def _dedupe_is_exact_deduplication(cls, data: Any) -> Any:
        return apply_aliases(data)
