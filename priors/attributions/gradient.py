"""Vanilla gradient (saliency) of a selected model output with respect to the input."""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor

from ..core.checks import check_batched, leaf_or_graph_input
from ..core.targets import Target, select_output
from .registry import register


@register("grad", aliases=("gradient", "saliency"), shares_forward=True)
def gradient(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    target: Target = None,
    create_graph: bool = False,
    outputs: Optional[Tensor] = None,
) -> Tensor:
    r"""Gradient :math:`\partial f_t(x) / \partial x` of the raw target output, per example.

    Simonyan et al., "Deep Inside Convolutional Networks", ICLR workshop 2014,
    https://arxiv.org/abs/1312.6034.

    Args:
        model: maps ``(B, *features)`` to ``(B,)``, ``(B, 1)`` or ``(B, C)`` logits.
        inputs: ``(B, *features)`` floating-point batch.
        target: ``None`` for single-output models, else an ``int`` or a ``LongTensor`` ``(B,)``.
        create_graph: keep the graph of the gradient so that a penalty on it can be
            back-propagated to the model parameters (double backward).
        outputs: the model's outputs already computed from ``inputs`` (which must then require
            grad). Lets a training step share one forward pass between task loss and prior.

    Returns:
        Tensor shaped like ``inputs``.
    """
    if outputs is None:
        check_batched(inputs)
        inputs = leaf_or_graph_input(inputs)
        outputs = model(inputs)
    elif not inputs.requires_grad:
        raise ValueError("when outputs are given, inputs must require grad and have produced them")
    selected = select_output(outputs, target)
    # retain_graph: a caller that passed ``outputs`` still needs that graph for its task loss.
    (grad,) = torch.autograd.grad(
        selected.sum(), inputs, create_graph=create_graph, retain_graph=True
    )
    return grad
