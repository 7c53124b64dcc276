"""Input invariance (Kindermans et al. 2019)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .._common import check_attributions
from ..registry import register


class ShiftedModel(nn.Module):
    """``f2(x2) = f1(x2 - shift)``: the network that reads inputs shifted by a constant and
    undoes the shift in its first layer's bias; it computes the same function of the
    original input."""

    def __init__(self, model, shift: float):
        super().__init__()
        self.model, self.shift = model, float(shift)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x - self.shift)


@register("input_invariance", family="axiomatic", higher_is_better=False,
          needs=("explain",), quantus="InputInvariance")
def input_invariance(model, x: Tensor, attributions: Tensor, explain, target=None,
                     shift: float = -1.0) -> Tensor:
    r"""Input invariance: the explanation should not change when the input is shifted by a
    constant that the network compensates.

    Kindermans, Hooker, Adebayo, Alber, Schütt, Dähne, Erhan and Kim, "The (Un)reliability of
    Saliency Methods", in Explainable AI (LNCS 11700), 2019 (Sec. 2, eq. 1-3): with
    :math:`x_2 = x_1 + m_2` and :math:`f_2(x_2) = f_1(x_2 - m_2)` (the first layer's bias
    absorbing the shift), a method is input invariant if
    :math:`\Phi(f_1, x_1) = \Phi(f_2, x_2)`. Score per example: the largest absolute
    difference divided by the largest :math:`|\Phi(f_1, x_1)|` (0 for gradients; not 0 for
    gradient x input or IG with a zero baseline). Lower is better.
    """
    check_attributions(attributions, x)
    shifted = ShiftedModel(model, shift)  # reads x + shift, subtracts it again
    b = explain(shifted, x + shift, target)
    if b.shape != x.shape:
        raise ValueError(f"the method returned attributions of shape {tuple(b.shape)} for "
                         f"inputs {tuple(x.shape)}")
    a = attributions.detach().double().flatten(1)
    diff = (b.detach().double().flatten(1) - a).abs().max(1).values
    return diff / a.abs().max(1).values.clamp_min(1e-300)
