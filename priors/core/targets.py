"""Which output to attribute, per example: the one rule of the package.

Training priors, the callbacks, run evaluation, ROAR and the sanity checks all ask
:func:`attribution_target`; :func:`is_single_output` is the one "single logit?" test and
:func:`select_output` picks the chosen output from the model's outputs. (Input checks live in
:mod:`priors.core.checks`.)
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor

from .outputs import select_logits

Target = Union[None, int, Tensor]
TARGET_CHOICES = ("pred", "label")


def is_single_output(outputs: Tensor) -> bool:
    """Whether the model gives one output per example, ``(B,)`` or ``(B, 1)``: a binary logit
    (or a regression value), attributed as it is; ``(B, C)`` with ``C > 1`` are class logits.

    >>> is_single_output(torch.zeros(4)), is_single_output(torch.zeros(4, 1))
    (True, True)
    >>> is_single_output(torch.zeros(4, 3))
    False
    """
    return outputs.dim() == 1 or (outputs.dim() == 2 and outputs.shape[1] == 1)


def predicted_class(outputs: Tensor) -> Tensor:
    """Predicted class per example, ``(B,)`` long: ``logit > 0`` for one logit, else argmax."""
    outputs = outputs.detach()
    if is_single_output(outputs):
        return (outputs.reshape(-1) > 0).long()
    return outputs.argmax(1)


def check_target_choice(choice: str) -> str:
    """``choice`` if it is ``"pred"`` or ``"label"``, else a ``ValueError`` saying so."""
    if choice not in TARGET_CHOICES:
        raise ValueError(f"target must be 'label' or 'pred' (the label's class or the predicted "
                         f"one), got {choice!r}")
    return choice


def attribution_target(outputs: Tensor, y: Optional[Tensor] = None, choice: str = "pred",
                       uses_target: bool = True) -> Target:
    """The output to attribute per example, for :func:`select_output` and every method.

    * one output per example (:func:`is_single_output`), or a method that attributes no
      particular output (``uses_target=False``, e.g. RRR's summed log-probabilities):
      ``None``, the one output;
    * class logits: the label's class (``choice="label"``; the predicted class when ``y`` is
      ``None``) or the predicted class (``choice="pred"``), as a LongTensor ``(B,)``.

    >>> attribution_target(torch.tensor([[0.1, 2.0], [3.0, -1.0]]), torch.tensor([0, 0]))
    tensor([1, 0])
    >>> attribution_target(torch.tensor([[0.1, 2.0], [3.0, -1.0]]), torch.tensor([0, 0]), "label")
    tensor([0, 0])
    >>> attribution_target(torch.tensor([0.5, -0.5]), torch.tensor([1.0, 0.0]), "label") is None
    True
    """
    check_target_choice(choice)
    if not uses_target or is_single_output(outputs):
        return None
    if choice == "pred" or y is None:
        return outputs.detach().argmax(1)
    return y.to(outputs.device).long()


def select_output(outputs: Tensor, target: Target) -> Tensor:
    """Return the per-example output to attribute, shape ``(batch,)``.

    ``outputs`` is ``(B,)`` or ``(B, 1)`` for single-output models (``target`` must be ``None``
    or ``0``) and ``(B, C)`` for multi-class models (``target`` is an ``int`` or a ``LongTensor``
    of shape ``(B,)`` holding class indices). A tuple, dict or ``ModelOutput`` is first reduced
    to its logits (:func:`priors.core.outputs.select_logits`, default rule).
    """
    outputs = select_logits(outputs)
    if outputs.dim() == 1:  # one output per example
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
