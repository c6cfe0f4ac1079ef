"""Convert kernel outputs (numpy) to what the caller asked for with ``return_tensors``."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ._inputs import check_choice

ReturnTensors = Literal["np", "pt", "list"]
RETURN_TENSORS = ("np", "pt", "list")


def check_return_tensors(value: Any) -> ReturnTensors:
    choice = check_choice("return_tensors", value, RETURN_TENSORS)
    if choice == "pt":
        try:
            import torch  # noqa: F401
        except ImportError:
            from .errors import InvalidArgumentError

            raise InvalidArgumentError('return_tensors="pt" needs torch, which is not installed') from None
    return choice  # type: ignore[return-value]


def convert(array: np.ndarray, return_tensors: ReturnTensors) -> Any:
    if return_tensors == "np":
        return array
    if return_tensors == "list":
        return array.tolist()
    import torch

    return torch.from_numpy(array)


def convert_dict(arrays: dict[str, np.ndarray], return_tensors: ReturnTensors) -> dict[str, Any]:
    return {key: convert(value, return_tensors) for key, value in arrays.items()}
