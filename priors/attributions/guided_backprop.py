"""Guided Backpropagation: the input gradient with negative signals stopped at every ReLU."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, List

import torch
from torch import Tensor, nn

from ..core.checks import check_batched
from ..core.targets import Target, select_output
from .registry import register


def _guided_relu_backward(module: nn.Module, grad_input, grad_output):
    # grad_input is the ordinary ReLU backward, grad_output * 1[x > 0]; guided backprop also
    # drops its negative entries.
    return tuple(None if g is None else g.clamp(min=0) for g in grad_input)


@contextmanager
def guided_relus(model: nn.Module) -> Iterator[List[nn.ReLU]]:
    """Within the block, every ``nn.ReLU`` module of ``model`` back-propagates only positive
    gradients. The hooks are removed and ``inplace`` flags restored on exit, also on error."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"guided backprop hooks nn.ReLU modules, so the model must be an "
                        f"nn.Module, got {type(model).__name__}")
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError(
            f"guided backprop modifies the backward pass of nn.ReLU modules, and "
            f"{type(model).__name__} has none (calls to torch.relu / F.relu are not modified); "
            "build the model with nn.ReLU modules")
    handles, inplace = [], [m.inplace for m in relus]
    try:
        for m in relus:
            # Full backward hooks cannot wrap an in-place ReLU (autograd forbids modifying the
            # hook's view in place), so run them out of place meanwhile: same values.
            m.inplace = False
            handles.append(m.register_full_backward_hook(_guided_relu_backward))
        yield relus
    finally:
        for handle in handles:
            handle.remove()
        for m, flag in zip(relus, inplace):
            m.inplace = flag


@register("guided_backprop", aliases=("gbp", "guided_backpropagation"), differentiable=False)
def guided_backprop(
    model: nn.Module,
    inputs: Tensor,
    target: Target = None,
    create_graph: bool = False,
) -> Tensor:
    r"""Guided Backpropagation: the gradient of the target output where every ReLU passes back
    only positive gradients at positive inputs,

    .. math:: R^{(l)} = \mathbb 1[z^{(l)} > 0] \cdot \mathbb 1[R^{(l+1)} > 0] \cdot R^{(l+1)}

    (:math:`z^{(l)}` the ReLU's input, :math:`R^{(l+1)}` the signal arriving from above).

    Springenberg, Dosovitskiy, Brox and Riedmiller, "Striving for Simplicity: The All
    Convolutional Net", ICLR workshop 2015, https://arxiv.org/abs/1412.6806.

    Only ``nn.ReLU`` *modules* are modified (full backward hooks, removed afterwards even when
    the model raises); ``torch.relu`` / ``F.relu`` calls inside ``forward`` keep their ordinary
    gradient, and a model without ``nn.ReLU`` modules is refused; a module applied several
    times in one forward (ResNet blocks) is guided at every use. Not differentiable w.r.t. the
    parameters (``create_graph=True`` is refused): it cannot be a training prior.

    Returns:
        Tensor shaped like ``inputs``.
    """
    if create_graph:
        raise ValueError("guided backprop is not differentiable w.r.t. the parameters")
    check_batched(inputs)
    x = inputs.detach().requires_grad_(True)
    with guided_relus(model), torch.enable_grad():
        selected = select_output(model(x), target)
        (grad,) = torch.autograd.grad(selected.sum(), x)
    return grad
