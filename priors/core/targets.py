"""Selection of the attributed output per example (input checks live in ``priors.core.checks``)."""
from __future__ import annotations

from typing import Union

import torch
from torch import Tensor

Target = Union[None, int, Tensor]


def select_output(outputs: Tensor, target: Target) -> Tensor:
    """Return the per-example output to attribute, shape ``(batch,)``.

    ``outputs`` is ``(B,)`` or ``(B, 1)`` for single-output models (``target`` must be ``None``
    or ``0``) and ``(B, C)`` for multi-class models (``target`` is an ``int`` or a ``LongTensor``
    of shape ``(B,)`` holding class indices).
    """
    if outputs.dim() == 1:
        outputs = outputs.unsqueeze(1)
    if outputs.dim() != 2:
        raise ValueError(
            f"model output must have shape (batch,) or (batch, classes); got {tuple(outputs.shape)}"
        )
    batch, classes = outputs.shape
    if target is None:
        if classes != 1:
            raise ValueError(
                f"the model has {classes} outputs: pass target (an int or a LongTensor of shape "
                f"({batch},) with class indices)"
            )
        return outputs[:, 0]
    if isinstance(target, int):
        if not 0 <= target < classes:
            raise ValueError(f"target {target} is out of range for a model with {classes} outputs")
        return outputs[:, target]
    if not isinstance(target, Tensor):
        raise TypeError(f"target must be None, an int or a LongTensor, got {type(target).__name__}")
    if target.is_floating_point() or target.dtype == torch.bool:
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    if target.dim() == 0:
        return select_output(outputs, int(target))
    if target.shape != (batch,):
        raise ValueError(
            f"target must have shape ({batch},) to match the batch, got {tuple(target.shape)}"
        )
    if int(target.min()) < 0 or int(target.max()) >= classes:
        raise ValueError(
            f"target holds class indices outside [0, {classes}) for a model with {classes} outputs"
        )
    return outputs.gather(1, target.to(outputs.device).long().unsqueeze(1)).squeeze(1)


def repeat_target(target: Target, times: int) -> Target:
    """Repeat a per-example target for inputs stacked as ``times`` consecutive copies of the batch."""
    if isinstance(target, Tensor) and target.dim() == 1:
        return target.repeat(times)
    return target


def interleave_target(target: Target, times: int) -> Target:
    """Repeat a per-example target for inputs where each example is repeated ``times`` in a row."""
    if isinstance(target, Tensor) and target.dim() == 1:
        return target.repeat_interleave(times)
    return target


def chunks(n: int, internal_batch_size) -> list:
    """Slices of ``range(n)`` holding at most ``internal_batch_size`` rows (``None``: one)."""
    size = n if internal_batch_size is None else int(internal_batch_size)
    if size < 1:
        raise ValueError(f"internal_batch_size must be >= 1, got {internal_batch_size}")
    return [slice(start, start + size) for start in range(0, n, size)]


def slice_target(target: Target, rows: slice) -> Target:
    """The per-example target of ``rows`` (an int or ``None`` applies to every row)."""
    return target[rows] if isinstance(target, Tensor) and target.dim() else target
