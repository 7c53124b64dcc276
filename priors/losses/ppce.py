"""PPCE: the per-pixel cross-entropy guidance loss of Rao et al. 2023."""
from __future__ import annotations

from typing import Optional

from torch import Tensor

from .annotations import fit_mask
from .layers import Layer, layer_attribution, per_example_sum, postprocess
from .registry import register


@register("ppce", annotations="right", uses_layer=True, shares_forward=True,
          attribution="input_x_gradient")
def ppce(model, inputs: Tensor, target=None, annotations: Tensor = None,
         create_graph: bool = True, outputs: Optional[Tensor] = None, layer: Layer = "input",
         kind: str = "ixg", eps: float = 1e-6) -> Tensor:
    r"""Per-pixel cross-entropy between the relevant-region mask :math:`M` and the attribution
    map normalized to [0, 1], inside the mask:

    .. math:: L_b = -\frac{1}{\lVert M_b \rVert_1} \sum_k M_{b,k}\,
              \log\big(\max(\hat A_{b,k}, \varepsilon)\big),\qquad
              \hat A_b = \frac{A_b^+}{\max_k A_{b,k}^+},

    0 when the normalized attribution is 1 all over the mask; 0 also for an empty mask.

    Rao, Böhle, Parchami-Araghi and Schiele, "Studying How to Efficiently and Effectively Guide
    Models with Explanations", ICCV 2023, https://arxiv.org/abs/2303.11932 (the PPCE loss, the
    mask as the per-pixel target of a binary cross-entropy on the normalized map).

    Args:
        layer, kind: as for :func:`~priors.losses.energy.energy`.
        eps: floor of the normalized attribution inside the logarithm.
    """
    attr = layer_attribution(model, inputs, target, layer, kind, create_graph, outputs)
    normalized = postprocess(attr, clip=True, normalize="max")
    mask = fit_mask(annotations, normalized).expand_as(normalized)
    nll = -(mask * normalized.clamp(min=eps).log())
    return per_example_sum(nll) / per_example_sum(mask).clamp(min=1e-12)
