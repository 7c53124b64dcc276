"""RobustViT: foreground / background relevance loss for vision transformers."""
from __future__ import annotations

from torch import Tensor

from ..attributions.registry import get_method
from .annotations import fit_mask
from .layers import postprocess
from .registry import register


@register("robustvit", annotations="right", requires_vit=True,
          attribution="gradient_weighted_attention")
def robustvit(model, inputs: Tensor, target=None, annotations: Tensor = None,
              create_graph: bool = True, lambda_bg: float = 2.0,
              lambda_fg: float = 0.3) -> Tensor:
    r"""Relevance-map loss of RobustViT, with :math:`S` the foreground mask and :math:`R` the
    ViT's relevance map (gradient-weighted attention, Chefer et al. ICCV 2021) normalized to a
    maximum of 1 per example:

    .. math:: L_b = \lambda_{bg}\,\mathrm{MSE}\big(R_b \odot (1 - S_b),\,0\big)
              + \lambda_{fg}\,\mathrm{MSE}\big(R_b \odot S_b,\, S_b\big)

    (background relevance pushed to 0, foreground relevance to 1; the paper's classification
    term, which keeps the predictions, is the task loss here).

    Chefer, Schwartz and Wolf, "Optimizing Relevance Maps of Vision Transformers Improves
    Robustness", NeurIPS 2022, https://arxiv.org/abs/2206.01161 (Eqs. 1-2; their
    :math:`\lambda_{bg} = 2`, :math:`\lambda_{fg} = 0.3`). Needs a :class:`priors.models.ViT`.
    """
    relevance = get_method("gradient_weighted_attention")(model, inputs, target,
                                                           create_graph=create_graph)
    relevance = postprocess(relevance, clip=True, normalize="max")
    fg = fit_mask(annotations, relevance).expand_as(relevance)
    bg_loss = (relevance * (1 - fg)).pow(2).flatten(1).mean(1)
    fg_loss = (relevance * fg - fg).pow(2).flatten(1).mean(1)
    return lambda_bg * bg_loss + lambda_fg * fg_loss
