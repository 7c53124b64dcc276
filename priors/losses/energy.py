"""The Energy loss of Rao et al. 2023: the share of positive attribution inside the box."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .annotations import fit_mask
from .layers import Layer, layer_attribution, per_example_sum
from .registry import register


def energy_share(attributions: Tensor, mask: Tensor) -> Tensor:
    r"""Energy pointing-game score per example, :math:`\sum_k M_k A^+_k / \sum_k A^+_k`
    (1: all positive attribution inside the mask; 0 where there is none at all)."""
    positive = attributions.clamp(min=0)
    mask = fit_mask(mask, positive)
    total = per_example_sum(positive)
    return per_example_sum(mask * positive) / total.clamp(min=torch.finfo(total.dtype).tiny)


@register("energy", annotations="right", uses_layer=True, shares_forward=True,
          attribution="input_x_gradient")
def energy(model, inputs: Tensor, target=None, annotations: Tensor = None,
           create_graph: bool = True, outputs: Optional[Tensor] = None,
           layer: Layer = "input", kind: str = "ixg") -> Tensor:
    r"""Energy loss, one minus the energy pointing-game score of the relevant region :math:`M`:

    .. math:: L_b = 1 - \frac{\sum_k M_{b,k}\, A^+_{b,k}}{\sum_k A^+_{b,k}},\qquad
              A^+ = \max(A, 0),

    :math:`A` the attributions of the guided layer (input x gradient by default).

    Rao, Böhle, Parchami-Araghi and Schiele, "Studying How to Efficiently and Effectively Guide
    Models with Explanations", ICCV 2023, https://arxiv.org/abs/2303.11932 (Eq. 4).

    Args:
        layer: ``"input"`` (default), ``"mid"``, ``"final"`` or a module name.
        kind: ``"ixg"`` (default) or ``"grad_cam"``.
    """
    attr = layer_attribution(model, inputs, target, layer, kind, create_graph, outputs)
    return 1.0 - energy_share(attr, annotations)
